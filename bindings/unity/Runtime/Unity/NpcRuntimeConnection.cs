// NPC Runtime for Unity: the connection component (one per scene). A thin shell around the plain
// C# NpcSession (Runtime/Core), which is tested with mono + NUnit; this file only compiles inside
// Unity (UNITY_5_3_OR_NEWER). In this repository it is compile-checked against a stub of the
// UnityEngine API (Tests/UnityStub~), not run in Unity.
#if UNITY_5_3_OR_NEWER
using System;
using UnityEngine;
using UnityEngine.Events;

namespace NpcRuntime.Unity
{
    [Serializable] public class NpcStringEvent : UnityEvent<string> { }
    [Serializable] public class NpcStringPairEvent : UnityEvent<string, string> { }

    /// <summary>
    /// Connects to npc-runtime, keeps the connection (automatic reconnect with backoff: a new hello,
    /// open conversations started again and reported) and delivers every event in Update on the
    /// main thread, so handlers may touch the scene. NpcCharacter components use it.
    /// </summary>
    [AddComponentMenu("NPC Runtime/NPC Runtime Connection")]
    [DisallowMultipleComponent]
    public class NpcRuntimeConnection : MonoBehaviour
    {
        [Header("Runtime")]
        [Tooltip("Endpoint of the npc-runtime process. Without CURVE keys keep it on this machine (loopback).")]
        public string endpoint = NpcRuntimeClient.DefaultEndpoint;
        [Tooltip("Name sent in hello (shown in the runtime's logs)")]
        public string clientName = "unity";
        public bool connectOnStart = true;
        [Tooltip("At most this many runtime messages are delivered per frame")]
        public int maxEventsPerFrame = 256;

        [Header("CURVE (a runtime on another host)")]
        [Tooltip("The runtime's public key (Z85, 40 characters: the server.key file of `npc-runtime keys generate`). Empty: no encryption, loopback only.")]
        public string serverPublicKey = "";
        [Tooltip("This client's public key (Z85); empty: derived from the secret key")]
        public string clientPublicKey = "";
        [Tooltip("This client's secret key (Z85). Empty with a server key set: a fresh key pair per run (the runtime must not restrict client keys). Do not ship secrets in builds you distribute.")]
        public string clientSecretKey = "";

        [Header("Reconnect")]
        public bool autoReconnect = true;
        [Tooltip("Seconds before the first attempt; doubles after each failure")]
        public float reconnectDelay = 0.5f;
        [Tooltip("The delay never grows past this (seconds)")]
        public float reconnectMaxDelay = 30f;
        [Tooltip("Give up after this many failed attempts (0: never)")]
        public int reconnectMaxAttempts = 0;

        [Header("Events (main thread)")]
        public UnityEvent onConnected = new UnityEvent();
        public NpcStringEvent onDisconnected = new NpcStringEvent();
        public UnityEvent onReconnected = new UnityEvent();
        [Tooltip("(old conversation id, new conversation id) after a reconnect")]
        public NpcStringPairEvent onConversationRestarted = new NpcStringPairEvent();
        public NpcStringEvent onError = new NpcStringEvent();

        public event Action<Welcome> Connected;
        public event Action<string> Disconnected;
        public event Action<Welcome> Reconnected;
        public event Action<ConversationHandle, string> ConversationRestarted;
        public event Action<RuntimeNotice> ErrorReceived;

        public NpcSession Session { get; private set; }
        bool everConnected;
        public bool IsConnected { get { return Session != null && Session.IsConnected; } }

        void Awake()
        {
            var policy = new ReconnectPolicy
            {
                InitialDelay = reconnectDelay,
                MaxDelay = Math.Max(reconnectDelay, reconnectMaxDelay),
                MaxAttempts = reconnectMaxAttempts,
            };
            Curve.CurveKeys curve = null;
            if (!string.IsNullOrEmpty(serverPublicKey))
                curve = string.IsNullOrEmpty(clientSecretKey)
                    ? Curve.CurveKeys.Generate(Curve.Z85.Decode(serverPublicKey))
                    : Curve.CurveKeys.FromZ85(serverPublicKey, clientPublicKey, clientSecretKey);
            Session = new NpcSession(endpoint, clientName, policy, null, curve) { AutoReconnect = autoReconnect };
            Session.Disconnected += OnDisconnected;
            Session.Reconnected += OnReconnected;
            Session.ConversationRestarted += OnRestarted;
            Session.ReconnectFailed += (e, next) => Debug.LogWarning("npc-runtime: reconnect failed (" + e.Message + ")"
                + (next < 0 ? "; giving up" : "; next attempt in " + next.ToString("0.0") + " s"));
            Session.MessageReceived += OnMessage;
        }

        async void Start()
        {
            if (connectOnStart) await ConnectAsync();
        }

        /// <summary>Connect now (when connectOnStart is off). Errors are logged and raised as onError.</summary>
        public async System.Threading.Tasks.Task<bool> ConnectAsync()
        {
            try
            {
                Welcome w = await Session.ConnectAsync(); // resumes on the main thread
                RaiseConnected(w);
                return true;
            }
            catch (Exception e)
            {
                Debug.LogError("npc-runtime: could not connect to " + endpoint + ": " + e.Message
                    + (autoReconnect ? " (retrying)" : ""));
                onError.Invoke(e.Message);
                return false;
            }
        }

        void OnMessage(System.Collections.Generic.Dictionary<string, object> m)
        {
            string type = Protocol.Str(m, "type");
            if (type != "error" && type != "warning") return;
            RuntimeNotice n = RuntimeNotice.From(m);
            Debug.LogWarning("npc-runtime " + n);
            if (!n.IsWarning) onError.Invoke(n.ToString());
            var h = ErrorReceived;
            if (h != null) h(n);
        }

        void OnDisconnected(string reason)
        {
            Debug.LogWarning("npc-runtime disconnected: " + reason + (autoReconnect ? " (reconnecting)" : ""));
            onDisconnected.Invoke(reason);
            var h = Disconnected;
            if (h != null) h(reason);
        }

        void OnReconnected(Welcome w)
        {
            if (!everConnected) // the first connection came from the retries after a failed start
            {
                RaiseConnected(w);
                return;
            }
            onReconnected.Invoke();
            var h = Reconnected;
            if (h != null) h(w);
        }

        void RaiseConnected(Welcome w)
        {
            everConnected = true;
            onConnected.Invoke();
            var h = Connected;
            if (h != null) h(w);
        }

        void OnRestarted(ConversationHandle c, string oldId)
        {
            onConversationRestarted.Invoke(oldId, c.Id);
            var h = ConversationRestarted;
            if (h != null) h(c, oldId);
        }

        void Update()
        {
            if (Session != null) Session.Pump(maxEventsPerFrame);
        }

        void OnDestroy()
        {
            if (Session != null) Session.Dispose();
            Session = null;
        }
    }
}
#endif
