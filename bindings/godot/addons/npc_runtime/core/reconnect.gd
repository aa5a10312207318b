# NPC Runtime client for Godot: when to try reconnecting (common subset of Godot 3 and 4).
#
# Exponential backoff: the first retry `initial_s` after the loss, each next one `factor` times
# later, at most `max_s` apart; a successful welcome resets it. The clock is injected (seconds as
# floats), so the policy is tested without waiting.

var initial_s = 0.5
var factor = 2.0
var max_s = 10.0
var attempts = 0  # failed attempts since the last success
var _next_at = -1.0


func _init(p_initial_s = 0.5, p_factor = 2.0, p_max_s = 10.0):
	initial_s = float(p_initial_s)
	factor = float(p_factor)
	max_s = float(p_max_s)


func delay_for(attempt):
	return min(max_s, initial_s * pow(factor, attempt))


# The connection was lost (or an attempt failed) at `now`: schedule the next attempt.
func lost(now):
	_next_at = now + delay_for(attempts)
	attempts += 1
	return _next_at


func due(now):
	return _next_at >= 0.0 and now >= _next_at


func next_at():
	return _next_at


# An attempt is being made now: no other until it fails again.
func attempting():
	_next_at = -1.0


func succeeded():
	attempts = 0
	_next_at = -1.0
