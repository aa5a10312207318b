// Voice-to-voice latency from the C# client, driven by tools/bench_bindings.py (not part of the
// Unity package: this folder ends in "~", so Unity ignores it).
//
//   mono VoiceLatency.exe ENDPOINT WAV TURNS NPC
//
// One push-to-talk conversation; per turn the WAV is streamed at real-time pace through the
// client's own MicrophoneStream (10 ms pieces, resampled to 16 kHz, 40 ms chunks), then
// speech_end. Latency = speech_end sent -> the first NPC audio sample written into the plugin's
// playback ring buffer (NpcVoicePlayer.TurnAudioBuffered), with a speaker thread draining the
// buffer at real-time pace as Unity's audio thread would. The reply plays out and is reported
// (playback_report) before the next turn begins. Prints one JSON line per turn.

using System;
using System.Diagnostics;
using System.IO;
using System.Threading;
using NpcRuntime;
using NpcRuntime.Audio;
using NpcRuntime.Voice;

public static class VoiceLatency
{
    const int OutRate = 48000;
    static volatile bool stopSpeaker;

    static float[] ReadWav(string path, out int rate)
    {
        byte[] b = File.ReadAllBytes(path);
        int at = 12;
        rate = 0;
        while (at + 8 <= b.Length)
        {
            string id = System.Text.Encoding.ASCII.GetString(b, at, 4);
            int size = BitConverter.ToInt32(b, at + 4);
            if (id == "fmt ") rate = BitConverter.ToInt32(b, at + 12);
            if (id == "data")
            {
                var pcm = new byte[size];
                Array.Copy(b, at + 8, pcm, 0, size);
                return Pcm16.ToFloats(pcm);
            }
            at += 8 + size + (size & 1);
        }
        throw new InvalidDataException(path + ": no data chunk");
    }

    static void Speaker(object o)
    {
        var player = (NpcVoicePlayer)o;
        var block = new float[480 * 2];
        var clock = Stopwatch.StartNew();
        long n = 0;
        while (!stopSpeaker)
        {
            long due = n * 10 - clock.ElapsedMilliseconds;
            if (due > 0) Thread.Sleep((int)due);
            player.Fill(block, 2);
            n++;
        }
    }

    static bool Loop(NpcSession s, VoiceConversation v, Func<bool> done, int timeoutMs)
    {
        var clock = Stopwatch.StartNew();
        while (!done())
        {
            if (clock.ElapsedMilliseconds > timeoutMs) return false;
            s.Pump();
            v.Update();
            if (done()) break;
            s.Client.WaitFor(null, 5);
        }
        return true;
    }

    public static int Main(string[] args)
    {
        if (args.Length != 4)
        {
            Console.Error.WriteLine("usage: VoiceLatency.exe ENDPOINT WAV TURNS NPC");
            return 2;
        }
        int rate;
        float[] speech = ReadWav(args[1], out rate);
        int turns = int.Parse(args[2]);
        var clock = Stopwatch.StartNew();
        using (var s = new NpcSession(args[0], "csharp-bench"))
        {
            s.Connect();
            var v = new VoiceConversation(s, args[3], "bench", VoiceConversation.PushToTalk, rate, OutRate);
            v.StartAsync(false).Wait();
            double bufferedAt = -1;
            long bufferedTurn = -1, reportedTurn = -1, finalTurn = -1;
            v.Player.TurnAudioBuffered += (c, t) => { bufferedAt = clock.Elapsed.TotalMilliseconds; bufferedTurn = t; };
            v.PlaybackMessageSent += m => { if ((string)m["type"] == "playback_report") reportedTurn = (long)m["turn_id"]; };
            v.LineFinished += f => finalTurn = f.TurnId;
            long metricsTurn = -1;
            double runtimeMs = -1;
            v.MetricsReceived += m => { metricsTurn = m.TurnId; runtimeMs = m.FirstAudioSent ?? -1; };
            var speaker = new Thread(Speaker) { IsBackground = true };
            speaker.Start(v.Player);
            int step = rate / 100;
            for (int turn = 0; turn < turns; turn++)
            {
                long before = bufferedTurn;
                v.BeginTalking();
                var mic = Stopwatch.StartNew();
                int sent = 0;
                while (sent < speech.Length)
                {
                    int due = (int)Math.Min(speech.Length, mic.Elapsed.TotalSeconds * rate);
                    while (due - sent >= step || (due == speech.Length && sent < due))
                    {
                        int n = Math.Min(step, speech.Length - sent);
                        v.PushMicrophone(speech, sent, n);
                        sent += n;
                    }
                    s.Pump();
                    v.Update();
                    Thread.Sleep(2); // pacing the microphone, as its callback would
                }
                v.EndTalking();
                double end = clock.Elapsed.TotalMilliseconds;
                if (!Loop(s, v, () => bufferedTurn != before, 60000))
                {
                    Console.WriteLine("{\"turn\": " + turn + ", \"error\": \"no NPC audio within 60 s\"}");
                    return 1;
                }
                double ms = bufferedAt - end;
                long t = bufferedTurn;
                // the reply plays out at real-time pace and is reported before the next turn
                Loop(s, v, () => reportedTurn == t && finalTurn >= t && metricsTurn >= t, 60000);
                var inv = System.Globalization.CultureInfo.InvariantCulture;
                Console.WriteLine("{\"turn\": " + turn + ", \"latency_ms\": " + ms.ToString("0.0", inv)
                    + ", \"runtime_ms\": " + (metricsTurn == t ? runtimeMs : -1).ToString("0.0", inv) + "}");
            }
            stopSpeaker = true;
            speaker.Join(1000);
            v.Dispose();
        }
        return 0;
    }
}
