#!/usr/bin/env python3
"""Writes tests/data/eval/requests_golden.json: the (context, continuation, len(choice)) pairs and gold index that
lm-evaluation-harness conventions give for each item of the small task files in tests/data/eval/. The C++ parser
(src/eval/task_data.cpp) must produce the same strings; tests/unit/eval_test.cpp checks it.

Conventions re-implemented here from lm-eval (hellaswag/utils.py preprocess and process_docs; the " " target
delimiter; acc_norm dividing by len(choice) on a Python str). Usage: python3 tools/eval_goldens/make_requests_golden.py
"""
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "tests", "data", "eval")
FILES = ["lambada", "arc_easy", "piqa", "winogrande", "copa", "hellaswag", "mixed"]


def preprocess(text):  # lm-eval tasks/hellaswag/utils.py
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    text = text.replace("  ", " ")
    return text


def item_pairs(doc):
    if "context_options" in doc:  # partial scoring: the continuation after each option
        return [[o, " " + doc["continuation"], len(doc["continuation"])] for o in doc["context_options"]], doc["gold"]
    if "choices" in doc:
        return [[doc["query"], " " + c, len(c)] for c in doc["choices"]], doc["gold"]
    if "endings" in doc:
        ctx = doc["ctx_a"] + " " + doc["ctx_b"].capitalize()
        query = preprocess(doc["activity_label"] + ": " + ctx)
        return [[query, " " + preprocess(e), len(preprocess(e))] for e in doc["endings"]], int(doc["label"])
    return [[doc["context"], " " + doc["continuation"], len(doc["continuation"])]], 0


def main():
    out = {}
    for name in FILES:
        items = []
        with open(os.path.join(DATA, name + ".jsonl"), encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    pairs, gold = item_pairs(json.loads(line))
                    items.append({"pairs": pairs, "gold": gold})
        out[name] = items
    with open(os.path.join(DATA, "requests_golden.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()
