# NPC Runtime client for Godot: the addon's Project Settings (common subset of Godot 3 and 4).
#
# The editor plugin registers them (Project Settings > General > Npc Runtime); the nodes read them
# as their defaults, so a game that never opens the editor plugin gets the same defaults.

# [name, default, type ("str", "bool", "int", "float"; TYPE_REAL is TYPE_FLOAT in Godot 4), hint, hint_string]
const SETTINGS = [
	["npc_runtime/connection/endpoint", "tcp://127.0.0.1:7600", "str", PROPERTY_HINT_NONE, ""],
	["npc_runtime/connection/client_name", "godot", "str", PROPERTY_HINT_NONE, ""],
	["npc_runtime/connection/connect_on_start", true, "bool", PROPERTY_HINT_NONE, ""],
	["npc_runtime/connection/auto_reconnect", true, "bool", PROPERTY_HINT_NONE, ""],
	["npc_runtime/connection/reconnect_initial_s", 0.5, "float", PROPERTY_HINT_RANGE, "0.1,30,0.1"],
	["npc_runtime/connection/reconnect_max_s", 10.0, "float", PROPERTY_HINT_RANGE, "0.5,120,0.5"],
	["npc_runtime/voice/player_id", "player", "str", PROPERTY_HINT_NONE, ""],
	["npc_runtime/voice/microphone_bus", "NpcMicrophone", "str", PROPERTY_HINT_NONE, ""],
	["npc_runtime/voice/output_bus", "Master", "str", PROPERTY_HINT_NONE, ""],
	["npc_runtime/voice/chunk_ms", 100, "int", PROPERTY_HINT_RANGE, "20,100,10"],
]
const AUTOLOAD_NAME = "NpcRuntime"
const AUTOLOAD_PATH = "res://addons/npc_runtime/npc_runtime_connection.gd"


static func variant_type(kind):
	match kind:
		"str":
			return TYPE_STRING
		"bool":
			return TYPE_BOOL
		"int":
			return TYPE_INT
	return typeof(1.5)


static func register():
	for s in SETTINGS:
		if not ProjectSettings.has_setting(s[0]):
			ProjectSettings.set_setting(s[0], s[1])
		ProjectSettings.add_property_info({"name": s[0], "type": variant_type(s[2]), "hint": s[3], "hint_string": s[4]})
		ProjectSettings.set_initial_value(s[0], s[1])


static func unregister():
	for s in SETTINGS:
		if ProjectSettings.has_setting(s[0]) and ProjectSettings.get_setting(s[0]) == s[1]:
			ProjectSettings.set_setting(s[0], null)


static func default_of(name):
	for s in SETTINGS:
		if s[0] == name:
			return s[1]
	return null


# The project's value, or the addon's default when the setting was never registered.
static func value(name):
	if ProjectSettings.has_setting(name):
		return ProjectSettings.get_setting(name)
	return default_of(name)
