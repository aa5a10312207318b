// NPC Runtime client for Unity: the optional MonoBehaviour front of NpcRuntimeClient.
//
// NuGet is not reachable from the machines this project is built and tested on, so NetMQ and
// MessagePack-CSharp cannot be used; the client underneath is pure C# (Zmtp.cs, MsgPack.cs).
// This file only compiles inside Unity (UNITY_5_3_OR_NEWER); with plain mono it is empty, so the
// core builds and is tested without a UnityEngine reference.
#if UNITY_5_3_OR_NEWER
using System;
using UnityEngine;

namespace NpcRuntime
{
    /// <summary>
    /// Add to a GameObject: connects on Start, delivers the runtime's events in Update (main
    /// thread, so handlers may touch the scene) and says bye on destroy. Subscribe to
    /// Client.NpcTextDeltaReceived / NpcTextFinalReceived / NpcActionReceived / ErrorReceived.
    /// </summary>
    public class NpcRuntimeBehaviour : MonoBehaviour
    {
        [Tooltip("Endpoint of the npc-runtime process (loopback only: no CURVE yet)")]
        public string endpoint = NpcRuntimeClient.DefaultEndpoint;
        public string clientName = "unity";
        public bool connectOnStart = true;
        [Tooltip("At most this many runtime messages are delivered per frame")]
        public int maxEventsPerFrame = 256;

        public NpcRuntimeClient Client { get; private set; }
        public event Action<Welcome> Connected;

        void Awake()
        {
            Client = new NpcRuntimeClient(endpoint, clientName);
            Client.ErrorReceived += e => Debug.LogWarning("npc-runtime " + e);
            Client.WarningReceived += w => Debug.LogWarning("npc-runtime " + w);
            Client.Disconnected += reason => Debug.LogWarning("npc-runtime disconnected: " + reason);
        }

        async void Start()
        {
            if (!connectOnStart) return;
            try
            {
                Welcome welcome = await Client.ConnectAsync();
                var h = Connected;
                if (h != null) h(welcome);
            }
            catch (Exception e)
            {
                Debug.LogError("npc-runtime: could not connect to " + endpoint + ": " + e.Message);
            }
        }

        void Update()
        {
            if (Client != null) Client.Pump(maxEventsPerFrame);
        }

        void OnDestroy()
        {
            if (Client != null) Client.Dispose();
            Client = null;
        }
    }
}
#endif
