// Fuzz target: index nodes (DecodeIndexNode, EncodeIndexNode), read from the
// fast and the slow store.
//
// Input: a 19-byte header that picks the geometry and the node's place in
// the tree (flags; fanout 2..4096 as an exponent; chunk count, LE64; height;
// which node of that height, LE64), then the node. Flags bit 0 says the node is given sparsely, as (slot, 32 bytes)
// pairs over a null node, so that nodes of 4096 slots (128 KiB) stay
// reachable from short inputs; otherwise the rest is the node's bytes.
//
// Invariants: errors are EBADMSG; a decoded node has fanout slots, none past
// the end of the volume non-null, and encodes to exactly its bytes; every
// node that only uses slots inside the volume decodes to itself.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "base/byte_order.h"
#include "fuzz/fuzz_support.h"
#include "snapshot/index_tree.h"

using namespace amberfs;

namespace {

// flags, fanout exponent, chunk count (LE64), height, node index (LE64)
constexpr size_t kHeader = 19;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  if (size < kHeader) return 0;
  const uint8_t flags = data[0];
  const uint32_t fanout = 1u << (1 + data[1] % 12);
  const uint64_t chunk_count = std::max<uint64_t>(1, GetLE64(data + 2));
  Result<IndexGeometry> geo = IndexGeometry::Make(chunk_count, fanout);
  FUZZ_CHECK(geo.ok(), "a valid geometry was refused: " + geo.status().ToString());
  const uint32_t height = 1 + data[10] % geo->depth;
  // Nodes of this height start at multiples of the span of their parent's slot.
  const uint64_t node_span = height == geo->depth ? chunk_count : geo->SlotSpan(height + 1);
  const uint64_t nodes = (chunk_count - 1) / node_span + 1;
  const uint64_t first_chunk = GetLE64(data + 11) % nodes * node_span;

  std::vector<uint8_t> bytes;
  if (flags & 1) {
    FuzzedDataProvider in(data + kHeader, size - kHeader);
    bytes.assign(geo->node_bytes(), 0);
    while (in.remaining_bytes() >= 2 + Pointer::kSize) {
      const uint32_t slot = in.ConsumeIntegralInRange<uint32_t>(0, fanout - 1);
      in.ConsumeData(bytes.data() + size_t{slot} * Pointer::kSize, Pointer::kSize);
    }
    if (flags & 2) bytes.resize(bytes.size() - in.ConsumeIntegralInRange<size_t>(0, bytes.size()));
  } else {
    bytes.assign(data + kHeader, data + size);
  }

  Result<std::vector<Pointer>> slots = DecodeIndexNode(*geo, bytes, first_chunk, height);
  if (!slots.ok()) {
    FUZZ_CHECK(slots.status().code() == EBADMSG, "a decode error is not EBADMSG: " + slots.status().ToString());
    return 0;
  }
  FUZZ_CHECK(slots->size() == fanout, "a decoded node without fanout slots");
  const uint64_t span = geo->SlotSpan(height);
  for (size_t s = 0; s < slots->size(); ++s) {
    if ((*slots)[s].IsNull()) continue;
    FUZZ_CHECK(first_chunk + s * span < chunk_count, "a non-null slot past the end of the volume was accepted");
  }
  FUZZ_CHECK(EncodeIndexNode(*slots) == bytes, "a decoded node does not encode back to its bytes");
  return 0;
}
