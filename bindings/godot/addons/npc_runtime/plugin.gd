# Editor plugin (Godot 4): enabling the addon registers the NpcRuntime autoload and the
# npc_runtime/* Project Settings. Godot 3 uses plugin_godot3.gd (`tool` instead of `@tool`):
# set script="plugin_godot3.gd" in plugin.cfg. The work is in core/editor_setup.gd.
@tool
extends EditorPlugin

const EditorSetup = preload("res://addons/npc_runtime/core/editor_setup.gd")


func _enter_tree():
	EditorSetup.register_settings()


func _enable_plugin():
	EditorSetup.enable(self)


func _disable_plugin():
	EditorSetup.disable(self)
