# NpcLipSync: moves a character's mouth with an NpcVoice's lip-sync keys, on the audio clock.
#
# Put it next to the NpcVoice; set `voice` (or voice_path) and `mesh` (or mesh_path: a
# MeshInstance3D in Godot 4, MeshInstance in Godot 3, with blend shapes). Every frame it reads the
# key sounding now (NpcVoice.current_viseme) and eases the blend shapes of `mapping`
# (core/lipsync.gd; default: Oculus / Ready Player Me viseme names) towards it, writing
# mesh["blend_shapes/<name>"]. Common subset of Godot 3 and 4.
class_name NpcLipSync
extends Node

const LipSync = preload("res://addons/npc_runtime/core/lipsync.gd")

var voice_path = NodePath("")
var mesh_path = NodePath("")
var voice = null
var mesh = null
var property_prefix = "blend_shapes/"
var lipsync = LipSync.new()


func _ready():
	if voice == null and not voice_path.is_empty():
		voice = get_node_or_null(voice_path)
	if mesh == null and not mesh_path.is_empty():
		mesh = get_node_or_null(mesh_path)


# A Dictionary like core/lipsync.gd DEFAULT_MAPPING: key -> {blend shape: weight}.
func set_mapping(mapping):
	lipsync.mapping = mapping


func _process(delta):
	if voice == null or mesh == null:
		return
	lipsync.set_key(voice.current_viseme, voice.current_viseme_kind)
	var w = lipsync.step(delta)
	for shape in w.keys():
		mesh.set(property_prefix + shape, w[shape])
