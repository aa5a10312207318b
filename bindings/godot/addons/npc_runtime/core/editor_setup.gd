# NPC Runtime client for Godot: what enabling the addon does, for the version-specific
# EditorPlugin shells (plugin.gd: Godot 4, plugin_godot3.gd: Godot 3). Common subset of 3 and 4.

const Settings = preload("res://addons/npc_runtime/core/settings.gd")


# every editor start: the settings get their hints and defaults in the Project Settings dialog
static func register_settings():
	Settings.register()


static func enable(plugin):
	Settings.register()
	# microphone input is off by default (Godot 4: audio/driver/enable_input, 3: audio/enable_audio_input)
	for name in ["audio/driver/enable_input", "audio/enable_audio_input"]:
		if ProjectSettings.has_setting(name):
			ProjectSettings.set_setting(name, true)
	plugin.add_autoload_singleton(Settings.AUTOLOAD_NAME, Settings.AUTOLOAD_PATH)
	ProjectSettings.save()


static func disable(plugin):
	plugin.remove_autoload_singleton(Settings.AUTOLOAD_NAME)
	Settings.unregister()
	ProjectSettings.save()
