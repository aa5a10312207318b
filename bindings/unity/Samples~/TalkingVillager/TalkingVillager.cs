// Talking Villager: the smallest complete scene. Put this script on an empty GameObject in a new
// scene (or on your character's root, next to its SkinnedMeshRenderer), start `npc-runtime serve`,
// press Play, hold V and speak: Mira answers aloud, her subtitles show, her mouth moves when the
// mesh has viseme blendshapes, and her actions are logged.
//
// It wires the three components in code so the sample needs no scene file; in your own game add
// them in the inspector instead: NpcRuntimeConnection (once), NpcCharacter + AudioSource (per NPC),
// NpcLipSync (per face).

using NpcRuntime;
using NpcRuntime.Unity;
using UnityEngine;

public class TalkingVillager : MonoBehaviour
{
    public string endpoint = "tcp://127.0.0.1:7600";
    public string npcId = "mira";
    public NpcTalkMode mode = NpcTalkMode.PushToTalk;
    public KeyCode talkKey = KeyCode.V;

    NpcCharacter villager;
    string heard = "", said = "", status = "connecting...";

    void Awake()
    {
        // 1. the connection (one per scene)
        NpcRuntimeConnection connection = gameObject.AddComponent<NpcRuntimeConnection>();
        connection.endpoint = endpoint;
        connection.clientName = "talking-villager";
        connection.Connected += w => status = "connected to npc-runtime " + w.Runtime;
        connection.Disconnected += reason => status = "disconnected (" + reason + "), reconnecting...";
        connection.Reconnected += w => status = "reconnected";

        // 2. the character: an AudioSource (make it 3D on a real model) and NpcCharacter
        AudioSource voice = gameObject.AddComponent<AudioSource>();
        voice.playOnAwake = false;
        villager = gameObject.AddComponent<NpcCharacter>();
        villager.connection = connection;
        villager.npcId = npcId;
        villager.playerId = "hero";
        villager.mode = mode;
        villager.talkKey = talkKey;
        villager.SubtitleDelta += d => said = villager.Subtitle;
        villager.LineFinished += f => said = f.Text;
        villager.TranscriptReceived += t => { if (t.Final) heard = t.Used ? t.Text : "(" + t.Reason + ") " + t.Text; };
        villager.ActionReceived += a => Debug.Log(npcId + " performs " + a.Name);

        // 3. lip-sync, when the model has blendshapes
        SkinnedMeshRenderer face = GetComponentInChildren<SkinnedMeshRenderer>();
        if (face != null)
        {
            NpcLipSync lips = gameObject.AddComponent<NpcLipSync>();
            lips.character = villager;
            lips.face = face;
        }
    }

    void OnGUI()
    {
        GUILayout.Label(status);
        GUILayout.Label(mode == NpcTalkMode.PushToTalk ? "Hold " + talkKey + " and speak." : "Speak.");
        GUILayout.Label("You: " + heard);
        GUILayout.Label(npcId + ": " + said);
    }
}
