// NPC Runtime client for Unity / plain .NET: connection, requests and events.
//
// NuGet is not reachable from the machines this project is built and tested on, so NetMQ and
// MessagePack-CSharp cannot be used: this client runs on the pure C# ZMTP 3.1 DEALER in Zmtp.cs
// and the msgpack codec in MsgPack.cs. The core has no UnityEngine reference and compiles with
// `mcs -langversion:7.2`; NpcRuntimeBehaviour.cs is the optional Unity component.
//
// Threads: a background reader thread receives and decodes messages; replies to requests complete
// their Task there; everything else (streamed NPC text, actions, errors, notices) is queued and
// delivered by Pump() on the thread that calls it (Unity: Update() on the main thread), so event
// handlers may touch game objects. A heartbeat thread sends `ping` when the client has been idle.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;

namespace NpcRuntime
{
    public sealed class NpcRuntimeClient : IDisposable
    {
        public const string DefaultEndpoint = "tcp://127.0.0.1:7600";

        public readonly string Endpoint;
        public readonly string ClientName;
        public int ConnectTimeoutMs = 5000;
        public int RequestTimeoutMs = 10000;

        /// <summary>Every message delivered by Pump (after the typed event below, if any).</summary>
        public event Action<Dictionary<string, object>> MessageReceived;
        public event Action<NpcTextDelta> NpcTextDeltaReceived;
        public event Action<NpcTextFinal> NpcTextFinalReceived;
        public event Action<NpcAction> NpcActionReceived;
        /// <summary>An `error` that was not the answer to an awaited request (e.g. a bad player_text).</summary>
        public event Action<RuntimeNotice> ErrorReceived;
        /// <summary>A `warning` (also one with a code this client does not know: RuntimeNotice.Kind is Unknown).</summary>
        public event Action<RuntimeNotice> WarningReceived;
        /// <summary>Warning conversation_moved (after WarningReceived): the conversation (same id) runs on another
        /// worker and its unfinished NPC turn runs once more; drop what was shown or played of that turn.</summary>
        public event Action<RuntimeNotice> ConversationMoved;
        public event Action<ConversationEnded> ConversationEndedReceived;
        /// <summary>The connection is gone (raised once, from Pump). NpcSession makes a new client and reconnects.</summary>
        public event Action<string> Disconnected;

        readonly ZmtpDealer dealer = new ZmtpDealer();
        readonly object connectLock = new object();
        readonly object pendingLock = new object();
        readonly Dictionary<long, TaskCompletionSource<Dictionary<string, object>>> pending =
            new Dictionary<long, TaskCompletionSource<Dictionary<string, object>>>();
        readonly object queueLock = new object();
        readonly Queue<Dictionary<string, object>> queue = new Queue<Dictionary<string, object>>();
        readonly ManualResetEvent stopping = new ManualResetEvent(false);
        readonly Stopwatch clock = Stopwatch.StartNew();
        Thread reader, heartbeat;
        long nextId;
        long lastSendTicks;
        volatile string disconnectReason;
        bool disconnectReported;
        bool disposed;

        /// <summary>CURVE keys (set before connecting) to reach a runtime that requires CURVE, e.g. on
        /// another host: encrypted, and the runtime authenticated by its public key. Null: NULL security.</summary>
        public Curve.CurveKeys Curve
        {
            get { return dealer.Curve; }
            set
            {
                if (reader != null) throw new InvalidOperationException("set the CURVE keys before connecting");
                dealer.Curve = value;
            }
        }

        /// <summary>True when the connection is CURVE-encrypted.</summary>
        public bool IsEncrypted { get { return dealer.IsEncrypted; } }

        public Welcome Welcome { get; private set; }
        public bool IsConnected { get { return Welcome != null && dealer.IsConnected && disconnectReason == null; } }
        /// <summary>Round trip of the last heartbeat ping, in milliseconds (-1 before the first).</summary>
        public double LastRoundTripMs { get; private set; }
        /// <summary>Frames from the runtime that were not valid msgpack maps (skipped).</summary>
        public int UndecodableFrames { get; private set; }

        public NpcRuntimeClient(string endpoint = DefaultEndpoint, string clientName = "unity-client")
        {
            string host;
            int port;
            ZmtpDealer.ParseEndpoint(endpoint, out host, out port); // fail early on a bad endpoint
            Endpoint = endpoint;
            ClientName = clientName;
            LastRoundTripMs = -1;
        }

        // ------------------------------------------------------------------ connecting
        /// <summary>Connect, say hello and return the runtime's welcome (blocking).</summary>
        public Welcome Connect()
        {
            lock (connectLock) // a second caller waits for the first and gets the same welcome
            {
                if (disposed) throw new ObjectDisposedException("NpcRuntimeClient");
                if (Welcome != null) return Welcome;
                if (reader != null) throw new InvalidOperationException("this client's connection failed or was closed; make a new client");
                return ConnectOnce();
            }
        }

        Welcome ConnectOnce()
        {
            dealer.Connect(Endpoint, ConnectTimeoutMs);
            reader = new Thread(ReadLoop) { IsBackground = true, Name = "npc-runtime-reader" };
            reader.Start();
            Dictionary<string, object> reply = Request(Protocol.Hello(null, ClientName), ConnectTimeoutMs);
            Welcome = Welcome.From(reply);
            dealer.MaxFrameBytes = Math.Max(dealer.MaxFrameBytes, Welcome.MaxMessageBytes * 4);
            heartbeat = new Thread(HeartbeatLoop) { IsBackground = true, Name = "npc-runtime-heartbeat" };
            heartbeat.Start();
            return Welcome;
        }

        /// <summary>Connect without blocking the caller (the handshake runs on the thread pool).</summary>
        public Task<Welcome> ConnectAsync()
        {
            return Task.Run(() => Connect());
        }

        // ------------------------------------------------------------------ sending
        public long NextId()
        {
            return Interlocked.Increment(ref nextId);
        }

        /// <summary>Send a message as it is (no reply is awaited).</summary>
        public void Send(Dictionary<string, object> message)
        {
            SendRaw(MsgPack.Encode(message));
        }

        /// <summary>Send bytes as they are (tests of bad input use this).</summary>
        public void SendRaw(byte[] frame)
        {
            if (Welcome != null && frame.Length > Welcome.MaxMessageBytes)
                throw new ArgumentException("message of " + frame.Length + " bytes is over the runtime's limit of "
                    + Welcome.MaxMessageBytes + " bytes; send audio in smaller chunks");
            dealer.Send(frame);
            Interlocked.Exchange(ref lastSendTicks, clock.ElapsedTicks);
        }

        sealed class PendingRequest
        {
            public long Id;
            public TaskCompletionSource<Dictionary<string, object>> Reply;
        }

        PendingRequest Begin(Dictionary<string, object> message)
        {
            var p = new PendingRequest { Id = NextId() };
            message["id"] = p.Id;
            p.Reply = new TaskCompletionSource<Dictionary<string, object>>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (pendingLock) pending[p.Id] = p.Reply;
            try
            {
                if (disconnectReason != null) // checked after registering: FailPending cannot miss it
                    throw new ZmtpException("disconnected from the runtime: " + disconnectReason);
                Send(message);
            }
            catch (Exception)
            {
                lock (pendingLock) pending.Remove(p.Id);
                throw;
            }
            return p;
        }

        Dictionary<string, object> Finish(PendingRequest p, Task<Dictionary<string, object>> completed, int timeoutMs, string type)
        {
            lock (pendingLock) pending.Remove(p.Id);
            if (completed != p.Reply.Task)
                throw new TimeoutException("no reply to '" + type + "' within " + timeoutMs + " ms; is the runtime still running?");
            if (p.Reply.Task.IsFaulted) throw p.Reply.Task.Exception.InnerException;
            Dictionary<string, object> reply = p.Reply.Task.Result;
            if (Protocol.Str(reply, "type") == "error") throw new NpcRuntimeException(RuntimeNotice.From(reply));
            return reply;
        }

        /// <summary>
        /// Send a request with a fresh id and block until the reply that carries it in `ref`.
        /// Throws NpcRuntimeException when the runtime answers with an `error`.
        /// </summary>
        public Dictionary<string, object> Request(Dictionary<string, object> message, int timeoutMs = -1)
        {
            if (timeoutMs < 0) timeoutMs = RequestTimeoutMs;
            PendingRequest p = Begin(message);
            bool done;
            try
            {
                done = p.Reply.Task.Wait(timeoutMs);
            }
            catch (AggregateException)
            {
                done = true; // faulted: Finish rethrows the cause
            }
            return Finish(p, done ? p.Reply.Task : null, timeoutMs, Protocol.Str(message, "type"));
        }

        /// <summary>As Request, awaitable (continues on the caller's context, e.g. Unity's main thread).</summary>
        public async Task<Dictionary<string, object>> RequestAsync(Dictionary<string, object> message, int timeoutMs = -1)
        {
            if (timeoutMs < 0) timeoutMs = RequestTimeoutMs;
            PendingRequest p = Begin(message);
            Task first = await Task.WhenAny(p.Reply.Task, Task.Delay(timeoutMs)).ConfigureAwait(false);
            return Finish(p, first == p.Reply.Task ? p.Reply.Task : null, timeoutMs, Protocol.Str(message, "type"));
        }

        // ------------------------------------------------------------------ protocol calls
        public List<NpcInfo> ListNpcs()
        {
            return NpcInfo.ListFrom(Request(Protocol.ListNpcs(null)));
        }

        public async Task<List<NpcInfo>> ListNpcsAsync()
        {
            Dictionary<string, object> reply = await RequestAsync(Protocol.ListNpcs(null)).ConfigureAwait(false);
            return NpcInfo.ListFrom(reply);
        }

        /// <summary>Start a conversation. ambient: the NPCs talk among themselves (their lines arrive as
        /// NpcTextFinal with Ambient true); s2s: a speech-to-speech profile, or "none" (see Protocol.ConversationStart).</summary>
        public ConversationStarted StartConversation(IList<string> npcIds, string playerId = "player", string mode = "text", bool greet = true,
            AmbientSpec ambient = null, string s2s = null)
        {
            return ConversationStarted.From(Request(Protocol.ConversationStart(null, npcIds, playerId, mode, greet, ambient, s2s)));
        }

        public async Task<ConversationStarted> StartConversationAsync(IList<string> npcIds, string playerId = "player", string mode = "text",
            bool greet = true, AmbientSpec ambient = null, string s2s = null)
        {
            Dictionary<string, object> reply =
                await RequestAsync(Protocol.ConversationStart(null, npcIds, playerId, mode, greet, ambient, s2s)).ConfigureAwait(false);
            return ConversationStarted.From(reply);
        }

        /// <summary>
        /// Send a player line. The reply streams in as NpcTextDelta events and ends with an
        /// NpcTextFinal whose Ref equals the returned id (an `error` about it carries the same ref).
        /// </summary>
        public long Say(string conversationId, string text, string to = null)
        {
            long id = NextId();
            Send(Protocol.PlayerText(id, conversationId, text, to));
            return id;
        }

        public void Interrupt(string conversationId)
        {
            Send(Protocol.Interrupt(conversationId));
        }

        public long EndConversation(string conversationId)
        {
            long id = NextId();
            Send(Protocol.ConversationEnd(id, conversationId));
            return id;
        }

        /// <summary>The game's clock in game hours since the story began.</summary>
        public void SetGameTime(double hours)
        {
            Send(Protocol.GameTime(hours));
        }

        /// <summary>The runtime's state (world, memory) as an opaque blob for the game's save slot.</summary>
        public async Task<byte[]> SaveAsync()
        {
            Dictionary<string, object> reply = await RequestAsync(Protocol.Save(null)).ConfigureAwait(false);
            object blob;
            return reply.TryGetValue("blob", out blob) ? blob as byte[] : null;
        }

        public async Task LoadAsync(byte[] blob)
        {
            await RequestAsync(Protocol.Load(null, blob)).ConfigureAwait(false);
        }

        // ------------------------------------------------------------------ receiving
        void ReadLoop()
        {
            try
            {
                while (!disposed)
                {
                    List<byte[]> parts = dealer.Receive();
                    Dictionary<string, object> msg;
                    try
                    {
                        msg = MsgPack.DecodeMap(parts[parts.Count - 1]);
                    }
                    catch (MsgPackException)
                    {
                        UndecodableFrames++;
                        continue;
                    }
                    Route(msg);
                }
            }
            catch (Exception e)
            {
                disconnectReason = disposed ? "closed" : e.Message;
            }
            finally
            {
                if (disconnectReason == null) disconnectReason = "closed";
                dealer.Close(); // later sends fail at once instead of writing into a dead socket
                FailPending(new ZmtpException("disconnected from the runtime: " + disconnectReason));
                lock (queueLock) Monitor.PulseAll(queueLock);
            }
        }

        void Route(Dictionary<string, object> msg)
        {
            string type = Protocol.Str(msg, "type");
            object r = Protocol.Ref(msg);
            if (r is long && type != "npc_text_delta" && type != "npc_text_final")
            {
                TaskCompletionSource<Dictionary<string, object>> tcs = null;
                lock (pendingLock)
                {
                    if (pending.TryGetValue((long)r, out tcs)) pending.Remove((long)r);
                }
                if (tcs != null)
                {
                    tcs.TrySetResult(msg);
                    return;
                }
            }
            if (type == "pong" && r == null)
            {
                // our heartbeat's answer: t is the stopwatch time the ping was sent
                LastRoundTripMs = (clock.Elapsed.TotalSeconds - Protocol.Float(msg, "t")) * 1000.0;
                return;
            }
            lock (queueLock)
            {
                queue.Enqueue(msg);
                Monitor.PulseAll(queueLock);
            }
        }

        void FailPending(Exception e)
        {
            List<TaskCompletionSource<Dictionary<string, object>>> all;
            lock (pendingLock)
            {
                all = new List<TaskCompletionSource<Dictionary<string, object>>>(pending.Values);
                pending.Clear();
            }
            foreach (var tcs in all) tcs.TrySetException(e);
        }

        /// <summary>
        /// Deliver every queued message to the event handlers on the calling thread (call it from
        /// Unity's Update()). Returns how many were delivered.
        /// </summary>
        public int Pump(int max = int.MaxValue)
        {
            int n = 0;
            while (n < max)
            {
                Dictionary<string, object> msg;
                lock (queueLock)
                {
                    if (queue.Count == 0) break;
                    msg = queue.Dequeue();
                }
                Dispatch(msg);
                n++;
            }
            ReportDisconnect();
            return n;
        }

        /// <summary>
        /// For code without a frame loop (tools, tests): deliver queued messages as Pump does until
        /// one matches, and return it; null on timeout or disconnect.
        /// </summary>
        public Dictionary<string, object> WaitFor(Func<Dictionary<string, object>, bool> match, int timeoutMs)
        {
            long deadline = clock.ElapsedMilliseconds + timeoutMs;
            while (true)
            {
                Dictionary<string, object> msg = null;
                lock (queueLock)
                {
                    while (queue.Count == 0)
                    {
                        long left = deadline - clock.ElapsedMilliseconds;
                        if (left <= 0 || disconnectReason != null) break;
                        Monitor.Wait(queueLock, (int)Math.Min(left, int.MaxValue));
                    }
                    if (queue.Count > 0) msg = queue.Dequeue();
                }
                if (msg == null)
                {
                    ReportDisconnect();
                    return null;
                }
                Dispatch(msg);
                if (match == null || match(msg)) return msg;
            }
        }

        void ReportDisconnect()
        {
            if (disconnectReason == null || disconnectReported || disposed) return;
            disconnectReported = true;
            var h = Disconnected;
            if (h != null) h(disconnectReason);
        }

        void Dispatch(Dictionary<string, object> msg)
        {
            switch (Protocol.Str(msg, "type"))
            {
                case "npc_text_delta":
                {
                    var h = NpcTextDeltaReceived;
                    if (h != null) h(NpcTextDelta.From(msg));
                    break;
                }
                case "npc_text_final":
                {
                    var h = NpcTextFinalReceived;
                    if (h != null) h(NpcTextFinal.From(msg));
                    break;
                }
                case "npc_action":
                {
                    var h = NpcActionReceived;
                    if (h != null) h(NpcAction.From(msg));
                    break;
                }
                case "error":
                {
                    var h = ErrorReceived;
                    if (h != null) h(RuntimeNotice.From(msg));
                    break;
                }
                case "warning":
                {
                    RuntimeNotice n = RuntimeNotice.From(msg);
                    var h = WarningReceived;
                    if (h != null) h(n);
                    var moved = ConversationMoved;
                    if (moved != null && n.Kind == RuntimeCode.ConversationMoved) moved(n);
                    break;
                }
                case "conversation_ended":
                {
                    var h = ConversationEndedReceived;
                    if (h != null) h(ConversationEnded.From(msg));
                    break;
                }
            }
            var any = MessageReceived;
            if (any != null) any(msg);
        }

        // ------------------------------------------------------------------ heartbeat
        void HeartbeatLoop()
        {
            double interval = Welcome.HeartbeatInterval > 0 ? Welcome.HeartbeatInterval : 2.0;
            int waitMs = Math.Max(10, (int)(interval * 1000 / 4));
            long idleTicks = (long)(interval / 2 * Stopwatch.Frequency);
            while (!stopping.WaitOne(waitMs))
            {
                if (disconnectReason != null) return;
                if (clock.ElapsedTicks - Interlocked.Read(ref lastSendTicks) < idleTicks) continue;
                try
                {
                    Send(Protocol.Ping(null, clock.Elapsed.TotalSeconds));
                }
                catch (Exception)
                {
                    return; // the reader notices the disconnect and reports it
                }
            }
        }

        // ------------------------------------------------------------------ closing
        /// <summary>Say bye (ending this client's conversations) and close the connection.</summary>
        public void Dispose()
        {
            if (disposed) return;
            if (Welcome != null && disconnectReason == null)
            {
                try { Send(Protocol.Bye()); } catch (Exception) { }
            }
            disposed = true;
            stopping.Set();
            dealer.Close();
            if (reader != null) reader.Join(2000);
            if (heartbeat != null) heartbeat.Join(2000);
            FailPending(new ObjectDisposedException("NpcRuntimeClient"));
        }
    }
}
