// model.safetensors.index.json, the index of a sharded Hugging Face checkpoint: which shard file holds each
// tensor (docs/file-formats.md, "Sharded weights").
#pragma once
#include <map>
#include <string>

namespace gaincell {

// Parses the index text: a JSON object whose "weight_map" object maps tensor names to shard file names.
// Returns name -> shard file. Not JSON, no weight_map, an empty map, a non-string entry or a shard name that is
// not a plain file name in the folder (empty, ".", "..", a '/' or '\\') throw Error("model", ...) naming the
// tensor; `where` names the file in messages.
std::map<std::string, std::string> parse_shard_index(const std::string& text, const std::string& where);

}  // namespace gaincell
