// Compile-check stub: only the UnityEngine surface the components in Runtime/Unity use, with the
// real API's signatures, so bindings/run_tests.sh can compile them (UNITY_5_3_OR_NEWER defined)
// where Unity is not installed. It is never shipped and never run: it lives in a folder ending in
// "~", which Unity ignores; inside Unity the real UnityEngine assembly is used. Passing this check
// means "these files compile against these signatures", not "this was run in Unity".

using System;

namespace UnityEngine
{
    public class Object
    {
        public string name { get; set; }
        public static T FindObjectOfType<T>() where T : Object { return null; }
    }

    public class GameObject : Object
    {
        public T AddComponent<T>() where T : Component { return null; }
    }

    public class Component : Object
    {
        public GameObject gameObject { get { return null; } }
        public T GetComponent<T>() { return default(T); }
        public T GetComponentInChildren<T>() { return default(T); }
    }

    public class Behaviour : Component
    {
        public bool enabled { get; set; }
    }

    public class MonoBehaviour : Behaviour { }

    public class Renderer : Component { }

    public class Mesh : Object
    {
        public int blendShapeCount { get { return 0; } }
        public int GetBlendShapeIndex(string blendShapeName) { return -1; }
        public string GetBlendShapeName(int shapeIndex) { return null; }
    }

    public class SkinnedMeshRenderer : Renderer
    {
        public Mesh sharedMesh { get; set; }
        public void SetBlendShapeWeight(int index, float value) { }
        public float GetBlendShapeWeight(int index) { return 0f; }
    }

    public sealed class AudioClip : Object
    {
        public int frequency { get { return 0; } }
        public int channels { get { return 0; } }
        public int samples { get { return 0; } }
        public bool GetData(float[] data, int offsetSamples) { return true; }
        public bool SetData(float[] data, int offsetSamples) { return true; }
        public static AudioClip Create(string name, int lengthSamples, int channels, int frequency, bool stream) { return null; }
    }

    public class AudioSource : Behaviour
    {
        public AudioClip clip { get; set; }
        public bool loop { get; set; }
        public bool playOnAwake { get; set; }
        public bool isPlaying { get { return false; } }
        public void Play() { }
        public void Stop() { }
    }

    public sealed class AudioSettings
    {
        public static int outputSampleRate { get { return 48000; } }
        public static void GetDSPBufferSize(out int bufferLength, out int numBuffers) { bufferLength = 1024; numBuffers = 4; }
    }

    public sealed class Microphone
    {
        public static string[] devices { get { return new string[0]; } }
        public static AudioClip Start(string deviceName, bool loop, int lengthSec, int frequency) { return null; }
        public static void End(string deviceName) { }
        public static bool IsRecording(string deviceName) { return false; }
        public static int GetPosition(string deviceName) { return 0; }
        public static void GetDeviceCaps(string deviceName, out int minFreq, out int maxFreq) { minFreq = 0; maxFreq = 0; }
    }

    public enum KeyCode { None = 0, Space = 32, T = 116, V = 118 }

    public static class Input
    {
        public static bool GetKey(KeyCode key) { return false; }
        public static bool GetKeyDown(KeyCode key) { return false; }
        public static bool GetKeyUp(KeyCode key) { return false; }
    }

    public class Time
    {
        public static float deltaTime { get { return 0f; } }
        public static float unscaledDeltaTime { get { return 0f; } }
    }

    public sealed class GUILayoutOption { }

    public class GUILayout
    {
        public static void Label(string text, params GUILayoutOption[] options) { }
    }

    public static class Debug
    {
        public static void Log(object message) { }
        public static void LogWarning(object message) { }
        public static void LogError(object message) { }
        public static void LogException(Exception exception) { }
    }

    [AttributeUsage(AttributeTargets.Field)]
    public class TooltipAttribute : Attribute
    {
        public TooltipAttribute(string tooltip) { }
    }

    [AttributeUsage(AttributeTargets.Field)]
    public class HeaderAttribute : Attribute
    {
        public HeaderAttribute(string header) { }
    }

    [AttributeUsage(AttributeTargets.Field)]
    public class RangeAttribute : Attribute
    {
        public RangeAttribute(float min, float max) { }
    }

    [AttributeUsage(AttributeTargets.Field)]
    public class SerializeField : Attribute { }

    [AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
    public class RequireComponent : Attribute
    {
        public RequireComponent(Type requiredComponent) { }
    }

    [AttributeUsage(AttributeTargets.Class)]
    public class AddComponentMenu : Attribute
    {
        public AddComponentMenu(string menuName) { }
    }

    [AttributeUsage(AttributeTargets.Class)]
    public class DisallowMultipleComponent : Attribute { }
}

namespace UnityEngine.Events
{
    public class UnityEvent
    {
        public void Invoke() { }
    }

    public abstract class UnityEvent<T0>
    {
        public void Invoke(T0 arg0) { }
    }

    public abstract class UnityEvent<T0, T1>
    {
        public void Invoke(T0 arg0, T1 arg1) { }
    }
}
