# Test support for the headless Godot 3 test scripts (bindings/run_tests.sh runs them with
# godot3-server). Counts checks and prints a summary line the runner parses:
#   GODOT-TESTS <name>: N passed, M failed
# followed by PASS or FAIL (a parse error prints neither, and the runner counts that as a failure).

var passed = 0
var failed = 0
var suite = ""


func _init(suite_name):
	suite = suite_name


func check(cond, what, detail = ""):
	if cond:
		passed += 1
		print("ok - " + what)
	else:
		failed += 1
		print("FAIL - " + what + ("" if typeof(detail) == TYPE_STRING and detail == "" else ": " + str(detail)))
	return cond


func finish(tree):
	print("GODOT-TESTS %s: %d passed, %d failed" % [suite, passed, failed])
	print("PASS" if failed == 0 and passed > 0 else "FAIL")
	tree.quit(0 if failed == 0 else 1)


static func hex(bytes):
	var digits = "0123456789abcdef"
	var s = ""
	for i in range(bytes.size()):
		s += digits[bytes[i] >> 4] + digits[bytes[i] & 15]
	return s


static func unhex(s):
	var b = StreamPeerBuffer.new()
	var digits = "0123456789abcdef"
	for i in range(0, s.length(), 2):
		b.put_u8(digits.find(s[i]) * 16 + digits.find(s[i + 1]))
	return b.data_array


static func env(name, fallback = ""):
	var v = OS.get_environment(name)
	return fallback if v == "" else v


# An object that records what is set on it (stands in for a MeshInstance's blend_shapes/*; the
# headless server renders nothing).
static func recorder():
	var s = GDScript.new()
	s.source_code = "extends Reference\nvar got = {}\nvar peak = {}\nvar current_viseme = 'sil'\nvar current_viseme_kind = 'viseme'\nfunc _set(p, v):\n\tgot[p] = v\n\tpeak[p] = max(peak.get(p, 0.0), v)\n\treturn true\n"
	s.reload()
	return s.new()
