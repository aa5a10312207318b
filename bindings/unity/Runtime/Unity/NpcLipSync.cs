// NPC Runtime for Unity: lip-sync from the runtime's visemes to blendshapes. The mapping logic is
// the plain C# VisemeBlender (tested with mono + NUnit); this file only compiles inside Unity
// (UNITY_5_3_OR_NEWER) and is compile-checked here against a stub of the UnityEngine API.
#if UNITY_5_3_OR_NEWER
using System;
using System.Collections.Generic;
using NpcRuntime.Audio;
using UnityEngine;

namespace NpcRuntime.Unity
{
    /// <summary>One row of the mapping: a viseme (sil PP FF TH DD kk CH SS nn RR aa E ih oh ou, or
    /// "open" for a mouth_open value) drives a blendshape up to a weight.</summary>
    [Serializable]
    public class VisemeBlendShape
    {
        public string viseme = "aa";
        public string blendShape = "";
        [Range(0f, 100f)] public float weight = 100f;
    }

    /// <summary>
    /// Moves a SkinnedMeshRenderer's blendshapes with the viseme being heard: the keys of each
    /// npc_audio chunk are placed on the playback clock, so the mouth follows the audio that leaves
    /// the speaker, and stops when playback is flushed.
    /// </summary>
    [AddComponentMenu("NPC Runtime/NPC Lip Sync")]
    public class NpcLipSync : MonoBehaviour
    {
        public NpcCharacter character;
        public SkinnedMeshRenderer face;
        [Tooltip("Viseme -> blendshape. Defaults suit Oculus/ARKit-style 'viseme_aa' names; edit to your rig.")]
        public List<VisemeBlendShape> mapping = DefaultMapping();
        [Tooltip("How fast the mouth follows (per second)")]
        public float speed = 25f;

        VisemeBlender blender;
        int[] indices;

        public static List<VisemeBlendShape> DefaultMapping()
        {
            var l = new List<VisemeBlendShape>();
            foreach (string v in VisemeTimeline.Visemes)
                if (v != "sil") l.Add(new VisemeBlendShape { viseme = v, blendShape = "viseme_" + v, weight = 100f });
            l.Add(new VisemeBlendShape { viseme = "open", blendShape = "jawOpen", weight = 100f });
            return l;
        }

        void Start()
        {
            if (character == null) character = GetComponent<NpcCharacter>();
            Rebuild();
        }

        /// <summary>Call after changing the mapping at run time.</summary>
        public void Rebuild()
        {
            var slots = new string[mapping.Count];
            indices = new int[mapping.Count];
            for (int i = 0; i < mapping.Count; i++)
            {
                slots[i] = mapping[i].viseme;
                indices[i] = face != null && face.sharedMesh != null ? face.sharedMesh.GetBlendShapeIndex(mapping[i].blendShape) : -1;
                if (indices[i] < 0 && face != null) Debug.LogWarning("NpcLipSync: no blendshape '" + mapping[i].blendShape + "' on " + face.name);
            }
            blender = new VisemeBlender(slots, speed);
        }

        void LateUpdate()
        {
            if (character == null || face == null || blender == null) return;
            blender.Speed = speed;
            float[] w = blender.Step(character.CurrentViseme(), Time.deltaTime);
            for (int i = 0; i < w.Length; i++)
                if (indices[i] >= 0) face.SetBlendShapeWeight(indices[i], w[i] * mapping[i].weight);
        }
    }
}
#endif
