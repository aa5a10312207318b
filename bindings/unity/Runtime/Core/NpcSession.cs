// NPC Runtime client: a connection that comes back. Plain C#, no UnityEngine.
//
// NpcSession owns an NpcRuntimeClient. When the connection is lost it waits as the ReconnectPolicy
// says, makes a new client (a new `hello`), starts every open conversation again (same NPCs, player
// and mode, without a greeting) and reports each one with ConversationRestarted(handle, oldId):
// handles keep working, their Id is the new conversation's. The attempts run on the thread pool;
// every event is raised from Pump() on the caller's thread (Unity: Update on the main thread).

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading.Tasks;

namespace NpcRuntime
{
    /// <summary>An open conversation; Id changes when the session restarts it after a reconnect.</summary>
    public sealed class ConversationHandle
    {
        public string Id { get; internal set; }
        public readonly List<string> NpcIds;
        /// <summary>S2s: the speech-to-speech profile asked for (null: the default), kept after a reconnect.</summary>
        public readonly string PlayerId, Mode, S2s;
        /// <summary>Started with `ambient` (the NPCs talked among themselves); a restart after a reconnect does not replay it.</summary>
        public readonly bool Ambient;
        public bool Ended { get; internal set; }

        internal ConversationHandle(string id, IList<string> npcIds, string playerId, string mode, string s2s = null, bool ambient = false)
        {
            Id = id;
            NpcIds = new List<string>(npcIds);
            PlayerId = playerId;
            Mode = mode;
            S2s = s2s;
            Ambient = ambient;
        }

        public override string ToString() { return Id + " (" + string.Join(",", NpcIds.ToArray()) + ", " + Mode + ")"; }
    }

    public sealed class NpcSession : IDisposable
    {
        sealed class Restart
        {
            public NpcRuntimeClient Client;
            public readonly List<KeyValuePair<ConversationHandle, ConversationStarted>> Started =
                new List<KeyValuePair<ConversationHandle, ConversationStarted>>();
            public readonly List<KeyValuePair<ConversationHandle, Exception>> Failed =
                new List<KeyValuePair<ConversationHandle, Exception>>();
        }

        public readonly string Endpoint, ClientName;
        public readonly ReconnectPolicy Policy;
        public readonly Curve.CurveKeys Curve;
        public bool AutoReconnect = true;
        readonly Func<double> clock;
        readonly List<ConversationHandle> conversations = new List<ConversationHandle>();
        readonly object gate = new object();
        Task<Restart> reconnecting;
        double nextAttemptAt;
        bool lost, disposed;

        public NpcRuntimeClient Client { get; private set; }
        public Welcome Welcome { get { return Client == null ? null : Client.Welcome; } }
        public bool IsConnected { get { return Client != null && Client.IsConnected && !lost; } }
        public bool IsReconnecting { get { return lost && AutoReconnect && !Policy.GaveUp; } }

        /// <summary>Every message of the runtime (raised by Pump).</summary>
        public event Action<Dictionary<string, object>> MessageReceived;
        public event Action<string> Disconnected;
        public event Action<Welcome> Reconnected;
        /// <summary>A conversation was started again after a reconnect: (handle with its new Id, the old id).</summary>
        public event Action<ConversationHandle, string> ConversationRestarted;
        /// <summary>A conversation could not be started again after a reconnect (it is ended).</summary>
        public event Action<ConversationHandle, Exception> ConversationLost;
        /// <summary>An attempt failed: (why, seconds until the next one, or -1 when giving up).</summary>
        public event Action<Exception, double> ReconnectFailed;

        /// <param name="clock">seconds, monotonic (default: a Stopwatch); injectable for tests</param>
        /// <param name="curve">CURVE keys for a runtime that requires them (null: NULL security, loopback)</param>
        public NpcSession(string endpoint = NpcRuntimeClient.DefaultEndpoint, string clientName = "unity-client",
            ReconnectPolicy policy = null, Func<double> clock = null, Curve.CurveKeys curve = null)
        {
            Endpoint = endpoint;
            Curve = curve;
            ClientName = clientName;
            Policy = policy ?? new ReconnectPolicy();
            if (clock == null)
            {
                Stopwatch sw = Stopwatch.StartNew();
                clock = () => sw.Elapsed.TotalSeconds;
            }
            this.clock = clock;
            Client = NewClient();
        }

        NpcRuntimeClient NewClient()
        {
            var c = new NpcRuntimeClient(Endpoint, ClientName) { Curve = Curve };
            c.MessageReceived += OnMessage;
            c.Disconnected += OnDisconnected;
            return c;
        }

        /// <summary>
        /// Connect now (blocking). When it fails and AutoReconnect is on, the session keeps trying
        /// from Pump as after a lost connection (the game may start before the runtime); success is
        /// then reported by Reconnected.
        /// </summary>
        public Welcome Connect()
        {
            try
            {
                return Client.Connect();
            }
            catch (Exception)
            {
                if (AutoReconnect && !disposed)
                {
                    lost = true;
                    nextAttemptAt = clock() + Policy.NextDelay();
                }
                throw;
            }
        }

        public Task<Welcome> ConnectAsync()
        {
            return Task.Run(() => Connect());
        }

        // ------------------------------------------------------------------ conversations
        /// <summary>Start a conversation (ambient and s2s: see Protocol.ConversationStart).</summary>
        public async Task<ConversationHandle> StartConversationAsync(IList<string> npcIds, string playerId = "player",
            string mode = "text", bool greet = true, AmbientSpec ambient = null, string s2s = null)
        {
            ConversationStarted s = await Client.StartConversationAsync(npcIds, playerId, mode, greet, ambient, s2s).ConfigureAwait(false);
            return Track(s, npcIds, playerId, mode, ambient, s2s);
        }

        public ConversationHandle StartConversation(IList<string> npcIds, string playerId = "player", string mode = "text", bool greet = true,
            AmbientSpec ambient = null, string s2s = null)
        {
            return Track(Client.StartConversation(npcIds, playerId, mode, greet, ambient, s2s), npcIds, playerId, mode, ambient, s2s);
        }

        ConversationHandle Track(ConversationStarted s, IList<string> npcIds, string playerId, string mode, AmbientSpec ambient, string s2s)
        {
            var h = new ConversationHandle(s.ConversationId, s.NpcIds.Count > 0 ? s.NpcIds : new List<string>(npcIds), playerId, mode,
                s2s, ambient != null);
            lock (gate) conversations.Add(h);
            return h;
        }

        /// <summary>End a conversation (the NPC says its farewell); the handle is not restarted any more.</summary>
        public void EndConversation(ConversationHandle h)
        {
            lock (gate) conversations.Remove(h);
            h.Ended = true;
            if (IsConnected) Client.EndConversation(h.Id);
        }

        public List<ConversationHandle> Conversations { get { lock (gate) return new List<ConversationHandle>(conversations); } }

        // ------------------------------------------------------------------ sending
        /// <summary>Send a message; throws ZmtpException when the connection is down.</summary>
        public void Send(Dictionary<string, object> message)
        {
            Client.Send(message);
        }

        /// <summary>Send unless the connection is down (streamed audio and reports lost in an outage are dropped).</summary>
        public bool TrySend(Dictionary<string, object> message)
        {
            if (!IsConnected) return false;
            try
            {
                Client.Send(message);
                return true;
            }
            catch (ZmtpException)
            {
                return false;
            }
        }

        public Task<Dictionary<string, object>> RequestAsync(Dictionary<string, object> message, int timeoutMs = -1)
        {
            return Client.RequestAsync(message, timeoutMs);
        }

        // ------------------------------------------------------------------ events and reconnection
        void OnMessage(Dictionary<string, object> m)
        {
            if (Protocol.Str(m, "type") == "conversation_ended")
            {
                string id = Protocol.Str(m, "conversation_id");
                lock (gate)
                {
                    ConversationHandle h = conversations.Find(c => c.Id == id);
                    if (h != null)
                    {
                        h.Ended = true;
                        conversations.Remove(h);
                    }
                }
            }
            var any = MessageReceived;
            if (any != null) any(m);
        }

        void OnDisconnected(string reason)
        {
            if (disposed) return;
            lost = true;
            nextAttemptAt = clock() + Policy.NextDelay();
            var h = Disconnected;
            if (h != null) h(reason);
        }

        /// <summary>Deliver queued messages and drive reconnection (call every frame). Returns messages delivered.</summary>
        public int Pump(int max = int.MaxValue)
        {
            int n = Client.Pump(max);
            if (reconnecting != null && reconnecting.IsCompleted) FinishReconnect();
            else if (lost && reconnecting == null && AutoReconnect && !Policy.GaveUp && clock() >= nextAttemptAt)
                reconnecting = Task.Run(() => TryReconnect());
            return n;
        }

        Restart TryReconnect()
        {
            var r = new Restart { Client = NewClient() };
            try
            {
                r.Client.Connect();
                foreach (ConversationHandle h in Conversations)
                {
                    try
                    {
                        r.Started.Add(new KeyValuePair<ConversationHandle, ConversationStarted>(
                            h, r.Client.StartConversation(h.NpcIds, h.PlayerId, h.Mode, false, null, h.S2s)));
                    }
                    catch (NpcRuntimeException e) // e.g. the NPC is gone from the new runtime
                    {
                        r.Failed.Add(new KeyValuePair<ConversationHandle, Exception>(h, e));
                    }
                }
                return r;
            }
            catch (Exception)
            {
                r.Client.Dispose();
                throw;
            }
        }

        void FinishReconnect()
        {
            Task<Restart> t = reconnecting;
            reconnecting = null;
            if (t.IsFaulted || t.IsCanceled)
            {
                Exception e = t.Exception != null ? t.Exception.InnerException : new TaskCanceledException();
                double delay = -1;
                if (!Policy.GaveUp)
                {
                    delay = Policy.NextDelay();
                    nextAttemptAt = clock() + delay;
                }
                var f = ReconnectFailed;
                if (f != null) f(e, delay);
                return;
            }
            Restart r = t.Result;
            NpcRuntimeClient old = Client;
            old.MessageReceived -= OnMessage;
            old.Disconnected -= OnDisconnected;
            old.Dispose();
            Client = r.Client;
            lost = false;
            Policy.Reset();
            var rc = Reconnected;
            if (rc != null) rc(Client.Welcome);
            foreach (var kv in r.Started)
            {
                string oldId = kv.Key.Id;
                kv.Key.Id = kv.Value.ConversationId;
                var h = ConversationRestarted;
                if (h != null) h(kv.Key, oldId);
            }
            foreach (var kv in r.Failed)
            {
                lock (gate) conversations.Remove(kv.Key);
                kv.Key.Ended = true;
                var h = ConversationLost;
                if (h != null) h(kv.Key, kv.Value);
            }
        }

        public void Dispose()
        {
            if (disposed) return;
            disposed = true;
            if (reconnecting != null)
            {
                try
                {
                    reconnecting.Wait(5000);
                    if (reconnecting.Status == TaskStatus.RanToCompletion) reconnecting.Result.Client.Dispose();
                }
                catch (AggregateException) { }
            }
            Client.Dispose();
        }
    }
}
