// NPC Runtime for Unity: an NPC you talk to. A thin shell around the plain C# VoiceConversation
// (Runtime/Voice), which holds the logic and is tested end to end against the real runtime with
// mono + NUnit. This file only compiles inside Unity (UNITY_5_3_OR_NEWER); in this repository it is
// compile-checked against a stub of the UnityEngine API (Tests/UnityStub~), not run in Unity.
#if UNITY_5_3_OR_NEWER
using System;
using System.Threading.Tasks;
using NpcRuntime.Audio;
using NpcRuntime.Voice;
using UnityEngine;
using UnityEngine.Events;

namespace NpcRuntime.Unity
{
    public enum NpcTalkMode { Text, PushToTalk, HandsFree }

    /// <summary>
    /// Put it on the NPC with an AudioSource. Starts a conversation, streams the Microphone to the
    /// runtime (push-to-talk while a key is held, or hands-free), plays the NPC's speech as it
    /// arrives (a ring buffer read in OnAudioFilterRead, after the AudioSource's own clip, before
    /// its 3D panning), reports what was played (so a barge-in leaves the NPC's memory right),
    /// flushes on stop_playback, and raises subtitles, lines and actions as events.
    /// </summary>
    [AddComponentMenu("NPC Runtime/NPC Character")]
    [RequireComponent(typeof(AudioSource))]
    public class NpcCharacter : MonoBehaviour
    {
        [Header("Who")]
        [Tooltip("The connection component (if empty: the one on this object, else the first in the scene)")]
        public NpcRuntimeConnection connection;
        [Tooltip("The persona id in the runtime, e.g. mira")]
        public string npcId = "mira";
        [Tooltip("Memory and relationships are per player")]
        public string playerId = "player";

        [Header("Conversation")]
        public NpcTalkMode mode = NpcTalkMode.PushToTalk;
        [Tooltip("Start the conversation once connected")]
        public bool startOnConnect = true;
        [Tooltip("The NPC says its greeting line first")]
        public bool greet = true;
        [Tooltip("Voice modes: a speech-to-speech profile of the runtime, or 'none' for the cascade (empty: the persona's, else the runtime's default)")]
        public string s2s = "";

        [Header("Microphone")]
        [Tooltip("Device name (empty: the default microphone)")]
        public string microphoneDevice = "";
        [Tooltip("Held down to talk in push-to-talk mode (legacy Input Manager; with the Input System call BeginTalking/EndTalking)")]
        public KeyCode talkKey = KeyCode.V;
        [Tooltip("Microphone capture rate requested from the device; it is resampled to 16 kHz")]
        public int microphoneRate = 48000;

        [Header("Playback")]
        [Range(0f, 2f)] public float volume = 1f;
        [Tooltip("Report heard_chars (subtitle characters whose audio played) instead of only played_ms")]
        public bool reportHeardChars = false;

        [Header("Events (main thread)")]
        [Tooltip("The NPC's current line so far (grows as it streams in)")]
        public NpcStringEvent onSubtitle = new NpcStringEvent();
        [Tooltip("The NPC's whole line (npc_text_final)")]
        public NpcStringEvent onLine = new NpcStringEvent();
        [Tooltip("An action's name (npc_action); ActionReceived has its arguments")]
        public NpcStringEvent onAction = new NpcStringEvent();
        [Tooltip("What the runtime heard the player say (final transcripts)")]
        public NpcStringEvent onTranscript = new NpcStringEvent();
        public UnityEvent onConversationStarted = new UnityEvent();
        [Tooltip("The conversation moved to another runtime worker: its unfinished reply starts again (the subtitle was cleared)")]
        public UnityEvent onConversationMoved = new UnityEvent();
        public UnityEvent onPlaybackStopped = new UnityEvent();

        public event Action<NpcTextDelta> SubtitleDelta;
        public event Action<NpcTextFinal> LineFinished;
        public event Action<NpcAction> ActionReceived;
        public event Action<Transcript> TranscriptReceived;
        /// <summary>An error or warning about this conversation (a code this client does not know has Kind Unknown).</summary>
        public event Action<RuntimeNotice> NoticeReceived;
        /// <summary>Warning conversation_moved (after the subtitle was cleared and the turn's audio dropped).</summary>
        public event Action<RuntimeNotice> ConversationMoved;

        /// <summary>The conversation (null until started). Its Player holds the ring buffer, visemes and reports.</summary>
        public VoiceConversation Voice { get; private set; }
        public string Subtitle { get; private set; }

        AudioSource source;
        AudioClip micClip;
        MicrophoneCursor micCursor;
        float[] micBuffer = new float[0];
        int outputRate;
        bool starting;

        void Awake()
        {
            Subtitle = "";
            source = GetComponent<AudioSource>();
            outputRate = AudioSettings.outputSampleRate; // main thread only
        }

        void Start()
        {
            if (connection == null) connection = FindConnection();
            if (connection == null) { Debug.LogError("NpcCharacter " + npcId + ": no NpcRuntimeConnection"); return; }
            if (startOnConnect)
            {
                connection.Connected += w => StartConversationLogged();
                if (connection.IsConnected) StartConversationLogged();
            }
        }

        NpcRuntimeConnection FindConnection()
        {
            NpcRuntimeConnection c = GetComponent<NpcRuntimeConnection>();
            return c != null ? c : FindObjectOfType<NpcRuntimeConnection>();
        }

        async void StartConversationLogged()
        {
            try { await StartConversation(); }
            catch (Exception e) { Debug.LogError("NpcCharacter " + npcId + ": " + e.Message); }
        }

        static string Wire(NpcTalkMode m)
        {
            return m == NpcTalkMode.Text ? VoiceConversation.Text : m == NpcTalkMode.PushToTalk ? VoiceConversation.PushToTalk : VoiceConversation.HandsFree;
        }

        /// <summary>Start the conversation (and the microphone in a voice mode).</summary>
        public async Task StartConversation()
        {
            if (Voice != null || starting) return;
            starting = true;
            try
            {
                int micRate = mode == NpcTalkMode.Text ? microphoneRate : MicrophoneRate();
                var v = new VoiceConversation(connection.Session, npcId, playerId, Wire(mode), micRate, outputRate);
                v.S2s = string.IsNullOrEmpty(s2s) ? null : s2s;
                v.Player.Tracker.ReportHeardChars = reportHeardChars;
                v.SubtitleChanged += OnSubtitleChanged;
                v.Moved += OnMoved;
                v.ErrorReceived += OnNotice;
                v.SubtitleDelta += OnDelta;
                v.LineFinished += OnFinal;
                v.ActionReceived += OnAction;
                v.TranscriptReceived += OnTranscript;
                v.PlaybackStopped += s => onPlaybackStopped.Invoke();
                try
                {
                    await v.StartAsync(greet); // resumes on the main thread
                }
                catch (Exception)
                {
                    v.Dispose();
                    throw;
                }
                Voice = v;
                if (mode != NpcTalkMode.Text) StartMicrophone(micRate);
                PlayThroughFilter();
                onConversationStarted.Invoke();
            }
            finally
            {
                starting = false;
            }
        }

        /// <summary>End the conversation (the NPC says its farewell) and release the microphone.</summary>
        public void EndConversation()
        {
            StopMicrophone();
            if (Voice != null) Voice.Dispose();
            Voice = null;
        }

        /// <summary>Say a line as text (works in every mode); returns the request id (NpcTextFinal.Ref).</summary>
        public long Say(string text)
        {
            if (Voice == null) throw new InvalidOperationException("start the conversation first");
            return Voice.Say(text);
        }

        /// <summary>Push-to-talk key down (call it yourself with the Input System or a UI button).</summary>
        public void BeginTalking()
        {
            if (Voice != null) Voice.BeginTalking();
        }

        /// <summary>Push-to-talk key up.</summary>
        public void EndTalking()
        {
            if (Voice != null) Voice.EndTalking();
        }

        /// <summary>Cut the NPC short.</summary>
        public void Interrupt()
        {
            if (Voice != null) Voice.Interrupt();
        }

        /// <summary>The lip-sync key being heard now (for NpcLipSync).</summary>
        public VisemeFrame CurrentViseme()
        {
            if (Voice == null) return new VisemeFrame { Viseme = "sil", Idle = true };
            int dspLength, dspCount;
            AudioSettings.GetDSPBufferSize(out dspLength, out dspCount);
            return Voice.Player.CurrentViseme((long)dspLength * dspCount); // what left the buffer is still queued for the speaker
        }

        void OnSubtitleChanged(string text)
        {
            Subtitle = text;
            onSubtitle.Invoke(text);
        }

        void OnMoved(RuntimeNotice n)
        {
            onConversationMoved.Invoke();
            var h = ConversationMoved;
            if (h != null) h(n);
        }

        void OnNotice(RuntimeNotice n)
        {
            // NpcRuntimeConnection logs every error and warning once; this only raises it for the NPC
            var h = NoticeReceived;
            if (h != null) h(n);
        }

        void OnDelta(NpcTextDelta d)
        {
            var h = SubtitleDelta;
            if (h != null) h(d);
        }

        void OnFinal(NpcTextFinal f)
        {
            onLine.Invoke(f.Text);
            var h = LineFinished;
            if (h != null) h(f);
        }

        void OnAction(NpcAction a)
        {
            onAction.Invoke(a.Name);
            var h = ActionReceived;
            if (h != null) h(a);
        }

        void OnTranscript(Transcript t)
        {
            if (t.Final) onTranscript.Invoke(t.Text);
            var h = TranscriptReceived;
            if (h != null) h(t);
        }

        // ------------------------------------------------------------------ microphone
        string Device { get { return string.IsNullOrEmpty(microphoneDevice) ? null : microphoneDevice; } }

        /// <summary>The requested rate, within what the device supports (the client resamples to 16 kHz).</summary>
        int MicrophoneRate()
        {
            int minRate, maxRate;
            Microphone.GetDeviceCaps(Device, out minRate, out maxRate);
            if (maxRate <= 0) return microphoneRate; // 0, 0: the device takes any rate
            return Math.Max(minRate, Math.Min(maxRate, microphoneRate));
        }

        void StartMicrophone(int rate)
        {
            if (Microphone.devices.Length == 0) { Debug.LogWarning("NpcCharacter: no microphone (or no permission to use it)"); return; }
            micClip = Microphone.Start(Device, true, 1, rate); // a 1 s loop, read every frame
            micCursor = micClip != null ? new MicrophoneCursor(micClip.samples) : null;
        }

        void StopMicrophone()
        {
            if (micClip == null) return;
            Microphone.End(Device);
            micClip = null;
        }

        void ReadMicrophone()
        {
            if (micClip == null || micCursor == null) return;
            int offset;
            int n = micCursor.Advance(Microphone.GetPosition(Device), out offset);
            if (n == 0) return;
            int channels = Math.Max(1, micClip.channels);
            var part = new float[n * channels];
            micClip.GetData(part, offset); // a read past the clip's end wraps to its start
            if (channels == 1)
            {
                Voice.PushMicrophone(part, 0, n);
                return;
            }
            if (micBuffer.Length < n) micBuffer = new float[n];
            MicrophoneCursor.Downmix(part, channels, n, micBuffer);
            Voice.PushMicrophone(micBuffer, 0, n);
        }

        // ------------------------------------------------------------------ playback
        void PlayThroughFilter()
        {
            // OnAudioFilterRead is only called while the AudioSource plays: give it a silent loop
            if (source.clip == null) source.clip = AudioClip.Create("npc-voice", outputRate, 1, outputRate, false);
            source.loop = true;
            if (!source.isPlaying) source.Play();
        }

        void Update()
        {
            if (Voice == null) return;
            if (mode == NpcTalkMode.PushToTalk)
            {
#if ENABLE_LEGACY_INPUT_MANAGER
                if (talkKey != KeyCode.None && Input.GetKeyDown(talkKey)) Voice.BeginTalking();
                if (talkKey != KeyCode.None && Input.GetKeyUp(talkKey)) Voice.EndTalking();
#endif
            }
            else if (mode == NpcTalkMode.HandsFree && !Voice.IsTalking) Voice.BeginTalking();
            ReadMicrophone();
            Voice.Player.Gain = volume;
            Voice.Update(); // playback_started / playback_report
        }

        // The audio thread: the NPC's speech replaces whatever the AudioSource played.
        void OnAudioFilterRead(float[] data, int channels)
        {
            VoiceConversation v = Voice;
            if (v == null) { Array.Clear(data, 0, data.Length); return; }
            v.Player.Fill(data, channels);
        }

        void OnDestroy()
        {
            EndConversation();
        }
    }
}
#endif
