# Editor plugin (Godot 3): enabling the addon registers the NpcRuntime autoload and the
# npc_runtime/* Project Settings. Use it by setting script="plugin_godot3.gd" in plugin.cfg
# (plugin.gd is the Godot 4 shell). The work is in core/editor_setup.gd.
tool
extends EditorPlugin

const EditorSetup = preload("res://addons/npc_runtime/core/editor_setup.gd")


func _enter_tree():
	EditorSetup.register_settings()


func enable_plugin():
	EditorSetup.enable(self)


func disable_plugin():
	EditorSetup.disable(self)
