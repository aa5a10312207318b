// NPC Runtime client: one spoken conversation with an NPC, without UnityEngine. The Unity
// NpcCharacter component is a thin shell around it; the end-to-end tests drive it directly.
//
// Microphone -> MicrophoneStream (resampled to 16 kHz, 40 ms s16le chunks) -> audio_chunk.
// npc_audio -> NpcVoicePlayer (ring buffer read by the audio thread), visemes on the audio clock,
// playback_started / playback_report from what was actually played, stop_playback flushes.
// After a reconnect the session restarts the conversation and this sends audio_start again.

using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using NpcRuntime.Audio;

namespace NpcRuntime.Voice
{
    public sealed class VoiceConversation : IDisposable
    {
        public const string Text = "text", PushToTalk = "push_to_talk", HandsFree = "hands_free";

        public readonly NpcSession Session;
        public readonly string NpcId, PlayerId, Mode;
        public readonly NpcVoicePlayer Player;
        readonly MicrophoneStream mic;
        long seq;
        bool talking, disposed;
        volatile bool starting;
        // messages that came while the conversation_start reply was on its way (a greeting's
        // first pieces): kept until the conversation id is known, then handled in order
        readonly List<Dictionary<string, object>> early = new List<Dictionary<string, object>>();

        /// <summary>Set before StartAsync: a speech-to-speech profile of the runtime, or "none" for the cascade
        /// (null: the persona's, else the runtime's default). Kept when the session restarts the conversation.</summary>
        public string S2s;
        /// <summary>The NPC's current line as shown: grows with each npc_text_delta, the whole line on
        /// npc_text_final, empty again when the conversation moved (its turn runs once more).</summary>
        public string Subtitle { get; private set; }

        public ConversationHandle Handle { get; private set; }
        public AudioReady Ready { get; private set; }
        public string ConversationId { get { return Handle == null ? null : Handle.Id; } }
        public bool IsTalking { get { return talking; } }
        /// <summary>audio_chunk messages sent since the conversation (re)started.</summary>
        public long ChunksSent { get { return seq; } }

        public event Action<Transcript> TranscriptReceived;
        public event Action<NpcTextDelta> SubtitleDelta;
        public event Action<NpcTextFinal> LineFinished;
        public event Action<NpcAction> ActionReceived;
        public event Action<StopPlayback> PlaybackStopped;
        public event Action<NpcAudioEnd> AudioEnded;
        public event Action<TurnMetrics> MetricsReceived;
        /// <summary>An error or warning about this conversation, known code or not (never thrown).</summary>
        public event Action<RuntimeNotice> ErrorReceived;
        /// <summary>Subtitle changed (its new text; "" when it was reset).</summary>
        public event Action<string> SubtitleChanged;
        /// <summary>Warning conversation_moved: the conversation (same id) runs on another worker and the
        /// unfinished NPC turn runs once more. The audio and playback reports of that turn were dropped and
        /// Subtitle reset before this is raised; the turn's text and audio then arrive again from the start.</summary>
        public event Action<RuntimeNotice> Moved;
        /// <summary>A playback_started / playback_report this conversation sent (for logs and tests).</summary>
        public event Action<Dictionary<string, object>> PlaybackMessageSent;
        /// <summary>After a reconnect: (old conversation id, new one).</summary>
        public event Action<string, string> Restarted;

        /// <param name="micRate">the microphone's sample rate (Unity: the AudioClip's frequency)</param>
        /// <param name="outputRate">the engine's output rate (Unity: AudioSettings.outputSampleRate)</param>
        public VoiceConversation(NpcSession session, string npcId, string playerId, string mode, int micRate, int outputRate, int chunkMs = 40)
        {
            if (mode != Text && mode != PushToTalk && mode != HandsFree) throw new ArgumentException("mode must be text, push_to_talk or hands_free");
            Session = session;
            NpcId = npcId;
            PlayerId = playerId;
            Mode = mode;
            Player = new NpcVoicePlayer(outputRate);
            Subtitle = "";
            mic = new MicrophoneStream(micRate, 16000, chunkMs);
            session.MessageReceived += OnMessage;
            session.ConversationRestarted += OnRestarted;
        }

        /// <summary>Start the conversation and, in a voice mode, declare the microphone (conversation_start, audio_start).</summary>
        public async Task StartAsync(bool greet = false)
        {
            starting = true;
            try
            {
                Handle = await Session.StartConversationAsync(new[] { NpcId }, PlayerId, Mode, greet, null, S2s).ConfigureAwait(false);
            }
            finally
            {
                starting = false;
            }
            if (Mode != Text) await OpenAudioAsync().ConfigureAwait(false);
        }

        async Task OpenAudioAsync()
        {
            mic.Reset();
            seq = 0; // a new audio_start restarts the numbering
            Dictionary<string, object> reply = await Session.RequestAsync(Protocol.AudioStart(null, Handle.Id, mic.TargetRate)).ConfigureAwait(false);
            Ready = AudioReady.From(reply);
        }

        void OnRestarted(ConversationHandle h, string oldId)
        {
            if (h != Handle) return;
            Player.Forget(oldId);
            talking = false;
            Ready = null;
            Task t = Mode == Text ? Task.FromResult(0) : OpenAudioAsync();
            t.ContinueWith(done =>
            {
                if (done.IsFaulted && ErrorReceived != null)
                    ErrorReceived(new RuntimeNotice { Code = "audio_start_failed", Message = done.Exception.InnerException.Message });
            });
            var r = Restarted;
            if (r != null) r(oldId, h.Id);
        }

        // ------------------------------------------------------------------ the player speaks
        /// <summary>Push-to-talk key down (in hands-free mode the runtime detects speech itself).</summary>
        public void BeginTalking()
        {
            if (talking) return;
            talking = true;
            mic.Reset();
            if (Mode == PushToTalk) Session.TrySend(Protocol.SpeechStart(Handle.Id));
        }

        /// <summary>Microphone samples (mono floats at micRate). Push-to-talk: sent only while talking.</summary>
        public void PushMicrophone(float[] samples, int offset, int count)
        {
            if (Handle == null || Ready == null) return;
            if (Mode == PushToTalk && !talking) return;
            foreach (byte[] chunk in mic.Push(samples, offset, count)) SendChunk(chunk);
        }

        /// <summary>Push-to-talk key up: the rest of the audio, then speech_end.</summary>
        public void EndTalking()
        {
            if (!talking) return;
            talking = false;
            if (Handle == null || Ready == null) return;
            foreach (byte[] chunk in mic.Flush()) SendChunk(chunk);
            if (Mode == PushToTalk) Session.TrySend(Protocol.SpeechEnd(Handle.Id));
        }

        void SendChunk(byte[] chunk)
        {
            if (Session.TrySend(Protocol.AudioChunk(Handle.Id, seq, chunk))) seq++;
        }

        public long Say(string text)
        {
            return Session.Client.Say(Handle.Id, text);
        }

        /// <summary>Cut the NPC's reply short while the runtime is still producing it (it then answers
        /// with stop_playback). To stop a reply that is only playing, barge in (push-to-talk: BeginTalking).</summary>
        public void Interrupt()
        {
            Session.TrySend(Protocol.Interrupt(Handle.Id));
        }

        // ------------------------------------------------------------------ the NPC speaks
        /// <summary>Every frame (main thread): send the playback reports that are due.</summary>
        public void Update()
        {
            ReplayEarly();
            foreach (Dictionary<string, object> m in Player.Update())
            {
                if (!Session.TrySend(m)) continue;
                var h = PlaybackMessageSent;
                if (h != null) h(m);
            }
        }

        void ReplayEarly()
        {
            if (early.Count == 0 || starting) return;
            var pending = new List<Dictionary<string, object>>(early);
            early.Clear();
            foreach (Dictionary<string, object> m in pending) HandleMessage(m);
        }

        void OnMessage(Dictionary<string, object> m)
        {
            if (Handle == null || starting)
            {
                if (starting && Protocol.Str(m, "conversation_id") != null) early.Add(m);
                return;
            }
            ReplayEarly();
            HandleMessage(m);
        }

        void HandleMessage(Dictionary<string, object> m)
        {
            if (Handle == null || Protocol.Str(m, "conversation_id") != Handle.Id) return;
            switch (Protocol.Str(m, "type"))
            {
                case "npc_audio":
                    Player.OnNpcAudio(NpcAudio.From(m));
                    break;
                case "npc_audio_end":
                {
                    NpcAudioEnd e = NpcAudioEnd.From(m);
                    Player.OnNpcAudioEnd(e);
                    if (AudioEnded != null) AudioEnded(e);
                    break;
                }
                case "stop_playback":
                {
                    StopPlayback s = StopPlayback.From(m);
                    Player.OnStopPlayback(s);
                    Update(); // the runtime waits for this report: send it now
                    if (PlaybackStopped != null) PlaybackStopped(s);
                    break;
                }
                case "transcript":
                    if (TranscriptReceived != null) TranscriptReceived(Transcript.From(m));
                    break;
                case "npc_text_delta":
                {
                    NpcTextDelta d = NpcTextDelta.From(m);
                    SetSubtitle(d.Seq <= 1 ? d.Text : Subtitle + d.Text);
                    if (SubtitleDelta != null) SubtitleDelta(d);
                    break;
                }
                case "npc_text_final":
                {
                    NpcTextFinal f = NpcTextFinal.From(m);
                    SetSubtitle(f.Text);
                    if (LineFinished != null) LineFinished(f);
                    break;
                }
                case "npc_action":
                    if (ActionReceived != null) ActionReceived(NpcAction.From(m));
                    break;
                case "turn_metrics":
                    if (MetricsReceived != null) MetricsReceived(TurnMetrics.From(m));
                    break;
                case "error":
                case "warning":
                {
                    RuntimeNotice n = RuntimeNotice.From(m);
                    if (n.IsWarning && n.Kind == RuntimeCode.ConversationMoved) OnMoved(n);
                    if (ErrorReceived != null) ErrorReceived(n);
                    break;
                }
            }
        }

        void OnMoved(RuntimeNotice n)
        {
            // the unfinished turn runs again from its start on the new worker: what was buffered of it
            // must not play twice, and no playback report goes out for the abandoned attempt
            Player.ResetConversation(Handle.Id);
            SetSubtitle("");
            if (Moved != null) Moved(n);
        }

        void SetSubtitle(string text)
        {
            Subtitle = text ?? "";
            if (SubtitleChanged != null) SubtitleChanged(Subtitle);
        }

        /// <summary>End the conversation (farewell) and stop listening to the session.</summary>
        public void Dispose()
        {
            if (disposed) return;
            disposed = true;
            Session.MessageReceived -= OnMessage;
            Session.ConversationRestarted -= OnRestarted;
            if (Handle != null && !Handle.Ended)
            {
                try { Session.EndConversation(Handle); } catch (Exception) { }
            }
        }
    }
}
