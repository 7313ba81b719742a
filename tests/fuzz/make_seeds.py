#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: tests/fuzz/corpus/<target>/ (small valid and invalid files).

Run from the repository root: python3 tests/fuzz/make_seeds.py. Deterministic; only the standard library.
valid_* files must parse, bad_* files must be rejected with gaincell::Error (tests/unit/fuzz_regression_test.cpp
checks that each target has at least one of each).
"""
import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None, pad=True):
    header, blob, off = {}, b"", 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blob += raw
        off += len(raw)
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    if pad:
        text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + blob


def seeds_safetensors():
    f32 = struct.pack("<6f", *[0.5 * i for i in range(6)])
    f16 = struct.pack("<4H", 0x3C00, 0x4000, 0xBC00, 0x0000)
    put("safetensors", "valid_two", safetensors([("a", "F32", [2, 3], f32), ("b", "F16", [4], f16)], {"format": "pt"}))
    put("safetensors", "valid_empty", safetensors([]))
    put("safetensors", "valid_scalar", safetensors([("s", "F64", [], struct.pack("<d", 1.5))]))
    good = safetensors([("a", "F32", [2, 3], f32)])
    put("safetensors", "bad_truncated", good[:-5])
    put("safetensors", "bad_header_len", struct.pack("<Q", 1 << 40) + good[8:])
    put("safetensors", "bad_dtype", safetensors([("a", "F31", [2, 3], f32)]))
    put("safetensors", "bad_shape", safetensors([("a", "F32", [7, 3], f32)]))
    hdr = b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'
    put("safetensors", "bad_overlap", struct.pack("<Q", len(hdr)) + hdr + b"\0" * 12)
    hdr = b'{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}'
    put("safetensors", "bad_overflow", struct.pack("<Q", len(hdr)) + hdr)
    hdr = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
    put("safetensors", "bad_duplicate", struct.pack("<Q", len(hdr)) + hdr + b"\0" * 8)


def npy(descr, shape, raw, fortran=False, version=1):
    shape_text = "(" + "".join(f"{d}, " for d in shape)[:-2] + ("," if len(shape) == 1 else "") + ")"
    d = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape_text}, }}"
    pre = 10 if version == 1 else 12
    d += " " * ((64 - (pre + len(d) + 1) % 64) % 64) + "\n"
    length = struct.pack("<H", len(d)) if version == 1 else struct.pack("<I", len(d))
    return b"\x93NUMPY" + bytes([version, 0]) + length + d.encode() + raw


def seeds_npy():
    put("npy", "valid_f4", npy("<f4", [2, 3], struct.pack("<6f", *range(6))))
    put("npy", "valid_f8_v2", npy("<f8", [3], struct.pack("<3d", 1, 2, 3), version=2))
    put("npy", "valid_empty", npy("<f4", [0, 4], b""))
    put("npy", "bad_fortran", npy("<f4", [2], struct.pack("<2f", 1, 2), fortran=True))
    put("npy", "bad_dtype", npy("<i4", [2], struct.pack("<2i", 1, 2)))
    put("npy", "bad_truncated", npy("<f4", [2, 3], struct.pack("<5f", *range(5))))
    put("npy", "bad_magic", b"\x93NUMPZ" + npy("<f4", [1], b"\0" * 4)[6:])
    put("npy", "bad_huge_dims", npy("<f4", [1 << 40, 1 << 40], b""))


def seeds_config():
    c = {"activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "model_type": "gpt2", "n_embd": 32,
         "n_head": 2, "n_layer": 2, "n_positions": 64, "vocab_size": 97}
    put("config", "valid_tiny.json", json.dumps(c, indent=2))
    put("config", "bad_head_split.json", json.dumps(dict(c, n_head=5)))
    put("config", "bad_type.json", json.dumps(dict(c, n_embd="32")))
    put("config", "bad_negative.json", json.dumps(dict(c, n_layer=-1)))
    put("config", "bad_huge.json", json.dumps(dict(c, vocab_size=1 << 40)))
    put("config", "bad_not_json.json", '{"n_embd": 32,')
    ll = {"model_type": "llama", "hidden_size": 32, "intermediate_size": 48, "num_attention_heads": 4,
          "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 97, "max_position_embeddings": 64,
          "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": False, "hidden_act": "silu",
          "rope_scaling": None}
    put("config", "valid_llama.json", json.dumps(ll, indent=2))
    put("config", "valid_qwen2.json", json.dumps(dict(ll, model_type="qwen2")))
    put("config", "bad_llama_kv_heads.json", json.dumps(dict(ll, num_key_value_heads=3)))
    put("config", "bad_llama_rope_scaling.json", json.dumps(dict(ll, rope_scaling={"type": "linear", "factor": 2})))
    put("config", "bad_model_type.json", json.dumps(dict(ll, model_type="mamba")))


def byte_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def token(bs):
    m = byte_to_unicode()
    return "".join(m[b] for b in bs.encode("utf-8"))


def seeds_tokenizer():
    m = byte_to_unicode()
    vocab = {m[b]: b for b in range(256)}
    put("vocab_json", "valid_bytes.json", json.dumps(vocab, ensure_ascii=False))
    bad = dict(vocab)
    bad[m[65]] = 66
    put("vocab_json", "bad_duplicate_id.json", json.dumps(bad, ensure_ascii=False))
    bad = dict(vocab)
    del bad[m[0]]
    put("vocab_json", "bad_missing_byte.json", json.dumps(bad, ensure_ascii=False))
    put("vocab_json", "bad_id_range.json", json.dumps(dict(vocab, xyz=100000), ensure_ascii=False))
    put("vocab_json", "bad_not_object.json", "[1, 2, 3]")
    # The merges target's fixed vocabulary (fuzz_entries.cpp) has these merge results.
    merges = ["h e", "Ġ t", "Ġt h", "Ġth e", "i n", "Ġ a", "e r", "r e"]
    put("merges", "valid.txt", "#version: 0.2\n" + "\n".join(merges) + "\n")
    put("merges", "bad_no_version.txt", "\n".join(merges) + "\n")
    put("merges", "bad_unknown_part.txt", "#version: 0.2\nh e\nq z\n")
    put("merges", "bad_three_parts.txt", "#version: 0.2\nh e r\n")
    put("merges", "bad_repeat.txt", "#version: 0.2\nh e\nh e\n")


def seeds_toml(repo):
    for name, src in (("hw_toml", "configs/paper.toml"), ("cost_toml", "configs/cost_paper.toml")):
        with open(os.path.join(repo, src), "rb") as f:
            text = f.read()
        put(name, "valid_default.toml", text)
        put(name, "valid_empty.toml", "")
        put(name, "bad_syntax.toml", text[: len(text) // 2] + b"\n[[[\n")
        put(name, "bad_unknown_key.toml", "[nonsense]\nkey = 1\n")
    put("hw_toml", "bad_type.toml", "[array]\nrows = \"sixty-four\"\n")
    put("hw_toml", "bad_value.toml", "[array]\nrows = -3\n")
    put("hw_toml", "bad_huge.toml", "[array]\nrows = 9223372036854775807\ncols = 9223372036854775807\n")


def seeds_device_csv():
    rows = ["v_store_V,v_in_V,i_read_A"]
    for i in range(10):
        v = 0.45 + 0.05 * i
        rows.append(f"{v:.3f},0.9,{1e-6 * (v - 0.45) + 2e-7 * (v - 0.45) ** 2:.6e}")
    put("device_csv", "valid.csv", "\n".join(rows) + "\n")
    put("device_csv", "bad_header.csv", "a,b,c\n1,2,3\n")
    put("device_csv", "bad_number.csv", rows[0] + "\n0.5,0.9,abc\n")
    put("device_csv", "bad_too_few_rows.csv", rows[0] + "\n0.5,0.9,1e-6\n")
    put("device_csv", "bad_nan.csv", rows[0] + "\n" + "\n".join(rows[1:5]) + "\nnan,0.9,inf\n")


def seeds_task_jsonl(repo):
    for f in sorted(os.listdir(os.path.join(repo, "tests/data/eval"))):
        if f.endswith(".jsonl"):
            with open(os.path.join(repo, "tests/data/eval", f), "rb") as fh:
                put("task_jsonl", "valid_" + f, b"".join(fh.readlines()[:2]))
    put("task_jsonl", "bad_schema.jsonl", '{"foo": 1}\n')
    put("task_jsonl", "bad_gold.jsonl", '{"goal": "x", "sol1": "a", "sol2": "b", "label": 7}\n')
    put("task_jsonl", "bad_json.jsonl", '{"text": "abc"\n')


def token_file(ids, width=2, vocab=50257, count=None, version=1, magic=b"GCTOKENS"):
    fmt = "<%d%s" % (len(ids), "H" if width == 2 else "I")
    n = len(ids) if count is None else count
    return magic + struct.pack("<IIQII", version, width, n, vocab, 0) + struct.pack(fmt, *ids)


def seeds_token_file():
    put("token_file", "valid_u16.bin", token_file([1, 2, 3, 50256]))
    put("token_file", "valid_u32.bin", token_file([7, 8], width=4))
    put("token_file", "valid_empty.bin", token_file([]))
    put("token_file", "bad_count.bin", token_file([1, 2, 3], count=1 << 62))
    put("token_file", "bad_id.bin", token_file([1, 60000]))
    put("token_file", "bad_width.bin", token_file([1, 2], width=3)[:-2])
    put("token_file", "bad_magic.bin", token_file([1], magic=b"GCTOKENZ"))
    put("token_file", "bad_short.bin", b"GCTOKENS\x01\0\0\0")


def hf_tokenizer(**changes):
    """A small SentencePiece-style tokenizer.json (Llama 2 layout) with the given top-level/model changes."""
    t = {
        "added_tokens": [{"id": 0, "content": "<unk>", "special": True}, {"id": 1, "content": "<s>", "special": True}],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                           {"type": "Replace", "pattern": {"String": " "},
                                                            "content": "\u2581"}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                                    {"Sequence": {"id": "A", "type_id": 0}}]},
        "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                                                     {"type": "ByteFallback"}, {"type": "Fuse"},
                                                     {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": True, "fuse_unk": True,
                  "vocab": {"<unk>": 0, "<s>": 1, "<0x48>": 2, "\u2581": 3, "h": 4, "e": 5, "l": 6, "o": 7,
                            "he": 8, "ll": 9, "\u2581he": 10, "\u2581hell": 11, "\u2581hello": 12},
                  "merges": ["h e", "l l", "\u2581 he", ["\u2581he", "ll"], "\u2581hell o"]},
    }
    for k, v in changes.items():
        if k.startswith("model_"):
            t["model"][k[6:]] = v
        else:
            t[k] = v
    return json.dumps(t, ensure_ascii=False)


def seeds_hf_tokenizer_json():
    put("hf_tokenizer_json", "valid_sentencepiece_style.json", hf_tokenizer())
    m = byte_to_unicode()
    vocab = {m[b]: b for b in range(256)}
    vocab.update({"he": 256, "ll": 257, "Ġhe": 258})
    bytelevel = {
        "added_tokens": [{"id": 259, "content": "<|end|>", "special": True}],
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
             "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]},
        "normalizer": {"type": "NFC"},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": vocab, "merges": [["h", "e"], ["l", "l"], ["Ġ", "he"]], "ignore_merges": True},
    }
    put("hf_tokenizer_json", "valid_byte_level.json", json.dumps(bytelevel, ensure_ascii=False))
    put("hf_tokenizer_json", "bad_not_json.json", hf_tokenizer()[:-7])
    put("hf_tokenizer_json", "bad_model_type.json", hf_tokenizer(model_type="Unigram"))
    put("hf_tokenizer_json", "bad_merge_absent.json", hf_tokenizer(model_merges=["h q"]))
    put("hf_tokenizer_json", "bad_merge_result.json", hf_tokenizer(model_merges=["o h"]))
    put("hf_tokenizer_json", "bad_duplicate_id.json", hf_tokenizer(model_vocab={"<unk>": 0, "<s>": 0}))
    put("hf_tokenizer_json", "bad_normalizer.json", hf_tokenizer(normalizer={"type": "NFKC"}))


def llama2c_tokenizer(max_len=7, extra=((-1.0, b" "), (-2.0, b"a"), (-3.0, b" a")), tail=b""):
    out = struct.pack("<i", max_len)
    toks = [(0.0, b"<unk>"), (0.0, b"\n<s>\n"), (0.0, b"\n</s>\n")] + [(0.0, b"<0x%02X>" % b) for b in range(256)]
    for score, piece in toks + list(extra):
        out += struct.pack("<fi", score, len(piece)) + piece
    return out + tail


def seeds_llama2c_tokenizer():
    put("llama2c_tokenizer", "valid_small.bin", llama2c_tokenizer())
    put("llama2c_tokenizer", "valid_merges.bin", llama2c_tokenizer(extra=((-1.0, b" "), (-4.0, b"h"), (-5.0, b"i"),
                                                                         (-2.0, b"hi"), (-3.0, b" h"), (-1.5, b" hi"))))
    put("llama2c_tokenizer", "bad_truncated.bin", llama2c_tokenizer()[:-1])
    put("llama2c_tokenizer", "bad_negative_length.bin", llama2c_tokenizer(tail=struct.pack("<fi", 0.0, -4)))
    put("llama2c_tokenizer", "bad_max_length.bin", llama2c_tokenizer(max_len=1 << 30))
    put("llama2c_tokenizer", "bad_too_few.bin", struct.pack("<i", 7) + struct.pack("<fi", 0.0, 1) + b"a")
    put("llama2c_tokenizer", "bad_nan_score.bin", llama2c_tokenizer(extra=((float("nan"), b"x"),)))


def llama2c(version, dim=4, hidden=6, layers=1, heads=2, kv=1, vocab=5, seq=3, shared=True, gs=2):
    """A tiny llama2.c checkpoint (docs/file-formats.md) with weights 0.01 * index."""
    hs = dim // heads
    kvd = hs * kv
    mats = [vocab * dim] + [dim * dim, kvd * dim, kvd * dim, dim * dim, hidden * dim, dim * hidden, hidden * dim]
    if not shared:
        mats.append(vocab * dim)
    norms = 2 * layers * dim + dim
    f32 = lambda n: struct.pack("<%df" % n, *[0.01 * i for i in range(n)])  # noqa: E731
    fields = struct.pack("<7i", dim, hidden, layers, heads, kv, vocab if shared or version else -vocab, seq)
    if version == 0:
        total = vocab * dim + norms + layers * sum(mats[1:8]) + 2 * seq * (hs // 2) + (0 if shared else vocab * dim)
        return fields + f32(total)
    head = struct.pack("<Ii", 0x616B3432, version) + fields + bytes([1 if shared else 0])
    if version == 2:
        head += struct.pack("<i", gs)
    head += b"\0" * (256 - len(head))
    if version == 1:
        return head + f32(norms + mats[0] + layers * sum(mats[1:8]) + sum(mats[8:]))
    body = f32(norms)
    for n in [mats[0]] + [m for m in mats[1:8] for _ in range(layers)] + mats[8:]:
        body += bytes((i % 255) - 127 & 0xFF for i in range(n)) + f32(n // gs)
    return head + body


def seeds_llama2c():
    put("llama2c", "valid_v0_tied", llama2c(0))
    put("llama2c", "valid_v0_untied", llama2c(0, shared=False, layers=2))
    put("llama2c", "valid_v1", llama2c(1, shared=False))
    put("llama2c", "valid_v2", llama2c(2, gs=4))
    put("llama2c", "valid_v2_mha", llama2c(2, kv=2, shared=False))
    good = llama2c(0)
    put("llama2c", "bad_truncated", good[:-1])
    put("llama2c", "bad_trailing", good + b"\0\0\0\0")
    put("llama2c", "bad_neg_dim", struct.pack("<i", -4) + good[4:])
    put("llama2c", "bad_heads", good[:12] + struct.pack("<i", 3) + good[16:])
    put("llama2c", "bad_kv_heads", llama2c(0, kv=3, heads=4, dim=8))
    put("llama2c", "bad_version", llama2c(1)[:4] + struct.pack("<i", 7) + llama2c(1)[8:])
    put("llama2c", "bad_group", llama2c(2, gs=3))
    put("llama2c", "bad_vocab", good[:20] + struct.pack("<i", -(1 << 31)) + good[24:])


def seeds_shard_index():
    good = {"metadata": {"total_size": 64},
            "weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                           "model.norm.weight": "model-00002-of-00002.safetensors"}}
    put("shard_index", "valid.json", json.dumps(good))
    put("shard_index", "bad_not_json.json", "{\"weight_map\": ")
    put("shard_index", "bad_no_map.json", json.dumps({"metadata": {}}))
    put("shard_index", "bad_empty_map.json", json.dumps({"weight_map": {}}))
    put("shard_index", "bad_path.json", json.dumps({"weight_map": {"a": "../model.safetensors"}}))
    put("shard_index", "bad_number.json", json.dumps({"weight_map": {"a": 3}}))


def main():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    seeds_safetensors()
    seeds_npy()
    seeds_config()
    seeds_tokenizer()
    seeds_toml(repo)
    seeds_device_csv()
    seeds_task_jsonl(repo)
    seeds_token_file()
    seeds_hf_tokenizer_json()
    seeds_llama2c_tokenizer()
    seeds_llama2c()
    seeds_shard_index()


if __name__ == "__main__":
    main()
