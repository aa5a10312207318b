// Compile-check stub: just the UnityEngine surface NpcRuntimeBehaviour.cs uses, so
// bindings/run_tests.sh can compile that file (with UNITY_5_3_OR_NEWER defined) without Unity.
// It is never shipped and never run; Unity provides the real assembly.

using System;

namespace UnityEngine
{
    public class Object { }

    public class Component : Object { }

    public class Behaviour : Component { }

    public class MonoBehaviour : Behaviour { }

    [AttributeUsage(AttributeTargets.Field)]
    public class TooltipAttribute : Attribute
    {
        public TooltipAttribute(string tooltip) { }
    }

    public static class Debug
    {
        public static void Log(object message) { }
        public static void LogWarning(object message) { }
        public static void LogError(object message) { }
    }
}
