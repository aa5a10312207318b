# NPC Runtime client for Godot: a Node that polls the client every frame and emits signals.
#
# Add it as an autoload (Project Settings > AutoLoad, name it NpcRuntime) or as a child node, set
# `endpoint` before it enters the tree (or call connect_to_runtime()), and connect to its signals
# (Godot 3: NpcRuntime.connect("npc_text_final", self, "_on_final");
#  Godot 4: NpcRuntime.npc_text_final.connect(_on_final)). Common subset of Godot 3 and 4.

extends Node

signal connected(welcome)
signal disconnected(reason)
signal message(msg)  # every message, after the specific signal below
signal reply(msg)  # any message with a "ref" that is not streamed NPC text
signal npc_text_delta(msg)
signal npc_text_final(msg)
signal npc_action(msg)
signal runtime_error(msg)
signal runtime_warning(msg)
signal conversation_started(msg)
signal conversation_ended(msg)

const NpcClient = preload("res://addons/npc_runtime/client.gd")
const SIGNAL_FOR = {
	"welcome": "connected",
	"npc_text_delta": "npc_text_delta",
	"npc_text_final": "npc_text_final",
	"npc_action": "npc_action",
	"error": "runtime_error",
	"warning": "runtime_warning",
	"conversation_started": "conversation_started",
	"conversation_ended": "conversation_ended",
}

var endpoint = "tcp://127.0.0.1:7600"
var client_name = "godot"
var connect_on_ready = true
var client = NpcClient.new()


func _ready():
	if connect_on_ready:
		connect_to_runtime()


func connect_to_runtime():
	var err = client.connect_to_runtime(endpoint, client_name)
	if err != "":
		push_error("npc_runtime: " + err)
	return err


func _process(_delta):
	for msg in client.poll():
		var mtype = str(msg.get("type", ""))
		if mtype == "disconnected":
			emit_signal("disconnected", msg.get("reason", ""))
			continue
		if SIGNAL_FOR.has(mtype):
			emit_signal(SIGNAL_FOR[mtype], msg)
		if msg.has("ref") and mtype != "npc_text_delta" and mtype != "npc_text_final":
			emit_signal("reply", msg)
		emit_signal("message", msg)


func _exit_tree():
	client.close()
