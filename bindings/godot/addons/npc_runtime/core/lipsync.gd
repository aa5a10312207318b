# NPC Runtime client for Godot: lip-sync keys -> blend shape weights (common subset of Godot 3 and 4).
#
# `mapping` says which blend shapes (and how much) each key of the runtime opens: viseme names
# (sil PP FF TH DD kk CH SS nn RR aa E ih oh ou) and "mouth_open" (a 0..1 opening scales its
# shapes). The default names are the Oculus/Ready Player Me viseme blend shapes; replace the
# Dictionary for your model. step(delta) moves every weight towards its target with the time
# constant `smoothing_s`, so the mouth does not snap between keys.

const DEFAULT_MAPPING = {
	"sil": {"viseme_sil": 1.0},
	"PP": {"viseme_PP": 1.0},
	"FF": {"viseme_FF": 1.0},
	"TH": {"viseme_TH": 1.0},
	"DD": {"viseme_DD": 1.0},
	"kk": {"viseme_kk": 1.0},
	"CH": {"viseme_CH": 1.0},
	"SS": {"viseme_SS": 1.0},
	"nn": {"viseme_nn": 1.0},
	"RR": {"viseme_RR": 1.0},
	"aa": {"viseme_aa": 1.0},
	"E": {"viseme_E": 1.0},
	"ih": {"viseme_I": 1.0},
	"oh": {"viseme_O": 1.0},
	"ou": {"viseme_U": 1.0},
	"mouth_open": {"jawOpen": 1.0},
}

var mapping = DEFAULT_MAPPING.duplicate(true)
var smoothing_s = 0.05
var weights = {}  # blend shape -> current weight
var _targets = {}


func _init(p_mapping = null):
	if p_mapping != null:
		mapping = p_mapping


# Every blend shape the mapping drives.
func shapes():
	var out = []
	for key in mapping.keys():
		for shape in mapping[key].keys():
			if not shape in out:
				out.append(shape)
	return out


# The key sounding now; unknown keys close the mouth.
func set_key(value, kind = "viseme"):
	_targets = {}
	if kind == "mouth_open":
		var amount = clamp(float(value), 0.0, 1.0)
		for shape in mapping.get("mouth_open", {}).keys():
			_targets[shape] = mapping["mouth_open"][shape] * amount
	else:
		var m = mapping.get(str(value), {})
		for shape in m.keys():
			_targets[shape] = float(m[shape])


# Advance by `delta` seconds; returns the weights of every driven shape.
func step(delta):
	var k = 1.0 if smoothing_s <= 0.0 else 1.0 - exp(-float(delta) / smoothing_s)
	for shape in shapes():
		var w = weights.get(shape, 0.0)
		weights[shape] = w + (_targets.get(shape, 0.0) - w) * k
	return weights
