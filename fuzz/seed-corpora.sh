#!/usr/bin/env bash
# Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/ from the protocol test
# vectors (default /work/shared/vectors, or $1). Each seed is an input in the layout the target's
# doc comment describes; most are recorded handshakes and streams, so the fuzzer starts from runs
# that get all the way through. Deterministic: re-running rewrites the same files.
# Needs python3 (the vectors are JSON). The seeds are committed; run this only to refresh them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vectors="${1:-/work/shared/vectors}"
exec python3 - "$vectors" "$here/corpus" <<'PY'
import json, os, sys

vectors, out = sys.argv[1], sys.argv[2]
load = lambda name: json.load(open(os.path.join(vectors, name)))
h = bytes.fromhex

def write(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

shs = load("shs-handshake.json")["vectors"] + load("shs-handshake-upstream.json")["vectors"]
for i, v in enumerate(shs):
    m = {k: h(x) for k, x in v["messages"].items()}
    c, s = v["client"], v["server"]
    write("handshake_server", f"raw-{i:02}", b"\0" + m["msg1"] + m["msg3"])
    write("handshake_client", f"raw-{i:02}", b"\0" + m["msg2"] + m["msg4"])
    write("handshake_server", f"ephemeral-{i:02}", b"\1" + m["msg1"][32:] + m["msg3"])
    write("handshake_client", f"ephemeral-{i:02}", b"\1" + m["msg2"][32:] + m["msg4"])
    if c["longterm_seed"]:
        eph, seed = h(c["ephemeral_sk"]), h(c["longterm_seed"])
        write("handshake_server", f"hello-{i:02}", b"\2" + eph + seed + b"\0" + bytes(96))
        write("handshake_server", f"patched-{i:02}", b"\3" + eph + seed + b"\0\x05\x01")
        write("handshake_server", f"interactive-authorised-{i:02}", b"\4" + eph + seed + b"\1")
        write("handshake_server", f"interactive-refused-{i:02}", b"\4" + eph + seed + b"\0")
        write("handshake_client", f"interactive-{i:02}", b"\4" + seed + h(s["ephemeral_sk"]) + b"\0")
    write("handshake_client", f"accept-{i:02}", b"\2" + h(s["ephemeral_sk"]) + b"\0" + bytes(64))
    write("handshake_client", f"patched-{i:02}", b"\3" + h(s["ephemeral_sk"]) + b"\0\x40\x01")

for case in load("shs-handshake-failures.json")["cases"]:
    name = case["name"].split(" ")[0]
    get = lambda k: h(case.get(k, ""))
    if case["verifier"] == "server":
        write("handshake_server", f"failure-{name}", b"\0" + get("msg1") + get("msg3"))
        write("handshake_server", f"failure-eph-{name}", b"\1" + get("msg1")[32:] + get("msg3"))
    else:
        write("handshake_client", f"failure-{name}", b"\0" + get("msg2") + get("msg4"))

boxes = load("box-stream.json")
for case in boxes["cases"] + boxes["decode_cases"]:
    data = b"\0" + h(case["key"]) + h(case["nonce"]) + bytes(8) + h(case["ciphertext"])
    if len(data) <= 8192:
        write("box_stream_decoder", f"raw-{case['name']}", data)
# Structured: frames of 5 and 300 bytes, a 4097-byte frame announced honestly, a goodbye; then
# the same with a flipped byte and a truncation.
frames = b"\0\x00\x04\x01hi" + b"\1\x01\x2b\x02abc"
big = b"\3\x10\x01\0\0z"
write("box_stream_decoder", "structured-frames-goodbye", b"\1" + bytes(8) + frames + big + b"\4")
write("box_stream_decoder", "structured-flip", b"\1" + bytes(8) + frames + b"\6\0\x10\1\x20" + b"\4")
write("box_stream_decoder", "structured-truncate", b"\1" + bytes(8) + frames + b"\7\0\x10")
write("box_stream_decoder", "structured-empty-body", b"\1" + bytes(8) + b"\3\0\0\0\0\0" + b"\4")
write("box_stream_decoder", "structured-garbage", b"\1" + bytes(8) + frames + b"\5\x03xyz")
write("box_stream_decoder", "structured-replay", b"\1" + bytes(8) + frames + b"\6\0\0\0\xc1")

keys = load("keys.json")
for i, k in enumerate(keys["keys"] + keys["string_seeds"]):
    obj = k["ssb_keys_object"]
    write("key_file", f"object-{i:02}", json.dumps(obj, indent=2).encode())
    write("key_file", f"id-{i:02}", obj["id"].encode())
    write("key_file", f"base64-{i:02}", obj["public"].split(".")[0].encode())
    if "seed_string" in k:
        write("key_file", f"string-seed-{i:02}", k["seed_string"].encode())
write("key_file", "secret-file", keys["secret_file"]["text"].encode())
write("key_file", "secret-file-without-id", json.dumps(keys["secret_file_without_id"]["json"]).encode())
for i, bad in enumerate(keys["bad_public_keys_for_conversion"]):
    import base64
    write("key_file", f"bad-public-{i:02}", b"@" + base64.b64encode(h(bad["ed25519_pk"])) + b".ed25519")
write("key_file", "app-key", b"1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s=")
write("key_file", "app-key-unpadded", b"1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s")

codec = load("packet-stream-codec.json")
for case in codec["encode"]:
    frame = case.get("bytes") or case.get("header") or ""
    write("packet_codec", f"encode-{case['name']}", b"\0" + bytes(8) + h(frame))
for case in codec["decode"]:
    write("packet_codec", f"decode-{case['name']}", b"\0" + bytes(8) + h(case["header"]) + h(case.get("body") or ""))
pieces = b"".join(h(p) for p in codec["stream_decode"]["input_pieces"])
write("packet_codec", "stream-decode", b"\0" + bytes(8) + pieces)
write("packet_codec", "stream-decode-small-limit", b"\2" + bytes(8) + pieces)

ms = load("multiserver-address.json")
texts = set()
for group in ("plugin_parse", "compose_parse", "client_selection", "grammar"):
    texts.update(case["input"] for case in ms[group])
texts.update(case["result"] for case in ms["stringify"] + ms["coerce_address"] if isinstance(case["result"], str))
for i, text in enumerate(sorted(texts)):
    write("multiserver_address", f"address-{i:02}", text.encode())

mux = load("muxrpc-exchanges.json")
for case in mux["scenarios"]:
    allow = case["callee_permissions"].get("allow")
    choice = 0 if allow is None else (2 if "manifest" in allow else 3)
    sent = b"".join(h(p["bytes"]) for p in case["packets"] if p["dir"] == "A->B")
    write("rpc_engine", f"scenario-{case['name']}", bytes([choice]) + bytes(8) + sent)

dispatch = [
    ("typed-valid", 0, 0, '[7, "b", [1, -2], {"x": 1, "y": 2}, true, 1.5, [1, null], [1, 2, 3]]'),
    ("typed-optional-missing", 0, 0, '[7, null, [], {"x": 1, "y": 2, "label": "p"}, false, 0, null, "abc"]'),
    ("typed-buffer", 0, 1, '[255, null, [], {"x": 0, "y": 0}, true, -1e300, [], {"type": "Buffer", "data": [1]}]'),
    ("typed-extra", 0, 0, '[1, null, [], {"x": 1, "y": 2}, true, 1, null, [], 9]'),
    ("hello", 1, 0, '["world"]'),
    ("add-overflow", 2, 1, '[9223372036854775807, 1]'),
    ("count", 3, 2, '[5]'),
    ("ticks", 4, 2, '[3]'),
    ("collect", 5, 3, '[1, "two", {"three": 3}]'),
    ("echo", 6, 4, '["a", {"b": 1}, [1, 2]]'),
    ("manifest", 7, 0x11, '[]'),
    ("nested", 13, 0, '[]'),
    ("secret-denied", 12, 0, '[]'),
    ("wrong-kind", 3, 0, '[1]'),
]
for name, path, kind, args in dispatch:
    write("plugin_dispatch", name, bytes([path, kind]) + args.encode())

for target in sorted(os.listdir(out)):
    files = os.listdir(os.path.join(out, target))
    size = sum(os.path.getsize(os.path.join(out, target, f)) for f in files)
    print(f"{target}: {len(files)} seeds, {size} bytes")
PY
