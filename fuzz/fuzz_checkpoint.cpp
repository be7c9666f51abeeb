// libFuzzer target: the checkpoint loader on arbitrary bytes. Each input is tried twice: as it is
// (exercising the magic, version, length and checksum checks) and with its length and checksum
// made right (so that the fuzzer reaches the parser behind them). Anything but a CheckpointError is
// a bug; an accepted checkpoint must serialize and parse again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "host/io/checkpoint.h"

namespace {

std::uint64_t fnv1a64(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

void put_u64(std::string& bytes, std::size_t at, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) bytes[at + i] = static_cast<char>(v >> (8 * i));
}

void try_parse(const std::string& bytes) {
  dynpmnn::Checkpoint ck;
  try {
    ck = dynpmnn::parse_checkpoint(bytes, "fuzz.bin");
  } catch (const dynpmnn::CheckpointError&) {
    return;
  }
  (void)dynpmnn::parse_checkpoint(dynpmnn::serialize_checkpoint(ck), "round trip");  // must not throw
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  try_parse(bytes);
  constexpr std::size_t kLengthAt = 12, kMinimum = 20 + 8;
  if (bytes.size() >= kMinimum) {
    put_u64(bytes, kLengthAt, bytes.size());
    put_u64(bytes, bytes.size() - 8, fnv1a64(std::string_view(bytes).substr(0, bytes.size() - 8)));
    try_parse(bytes);
  }
  return 0;
}
