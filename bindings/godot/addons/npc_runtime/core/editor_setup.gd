# NPC Runtime client for Godot: what enabling the addon does, for the version-specific
# EditorPlugin shells (plugin.gd: Godot 4, plugin_godot3.gd: Godot 3). Common subset of 3 and 4.

const Settings = preload("res://addons/npc_runtime/core/settings.gd")


# every editor start: the settings get their hints and defaults in the Project Settings dialog
static func register_settings():
	Settings.register()


static func enable(plugin):
	Settings.register()
	plugin.add_autoload_singleton(Settings.AUTOLOAD_NAME, Settings.AUTOLOAD_PATH)
	ProjectSettings.save()


static func disable(plugin):
	plugin.remove_autoload_singleton(Settings.AUTOLOAD_NAME)
	Settings.unregister()
	ProjectSettings.save()
