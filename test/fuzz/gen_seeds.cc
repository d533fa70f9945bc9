// gen_seeds: writes the fuzz targets' seed corpora, test/fuzz/corpus/<target>/gen-*.
//
// Binary seeds come from the real encoders and writers (EncodeSnapshotRecord,
// an UploadLog that appended and settled entries, a ChangeTracker that
// marked chunks, ...), so the fuzzers start from what amberfs writes; text
// seeds are the forms users and servers write, with hand-picked edge cases.
// Each seed carries the leading flags or header bytes its target reads (see
// the target's comment). Output is deterministic: re-running changes nothing
// unless an encoder changed. Regression seeds (regress-*) are not touched.
//
// Usage: gen_seeds CORPUS_DIR   (make fuzz-seeds)
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "amberfs/volume_config.h"
#include "base/byte_order.h"
#include "base/durable_file.h"
#include "crypto/blob_envelope.h"
#include "crypto/secret.h"
#include "crypto/key_object.h"
#include "fuzz/fuzz_support.h"
#include "snapshot/catalog.h"
#include "snapshot/change_tracker.h"
#include "snapshot/index_tree.h"
#include "snapshot/rollback_intent.h"
#include "snapshot/snapshot_pointers.h"
#include "snapshot/snapshot_record.h"
#include "snapshot/volume_codec.h"
#include "store/upload_log.h"
#include "store/blob_index_format.h"
#include "store/pack_format.h"
#include "store/upload_log_record.h"
#include "volume/ctl.h"
#include "volume/volume_lock.h"

using namespace amberfs;
using Bytes = std::vector<uint8_t>;

namespace {

std::string g_root;

Bytes Text(std::string_view s) { return Bytes(s.begin(), s.end()); }
Bytes Cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
Bytes Flag(uint8_t flags, const Bytes& rest) { return Cat(Bytes{flags}, rest); }

void Seed(const std::string& target, const std::string& name, const Bytes& bytes) {
  const std::string dir = g_root + "/" + target;
  std::filesystem::create_directories(dir);
  std::ofstream out(dir + "/gen-" + name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  FUZZ_CHECK(out.good(), "cannot write seed " + target + "/" + name);
}

// Inputs for targets that read a FuzzedDataProvider: any bytes mean something.
Bytes Noise(uint32_t seed, size_t n) {
  std::mt19937 rng(seed);
  Bytes out(n);
  for (uint8_t& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

Pointer P(std::string_view s) { return Pointer::Of(s.data(), s.size()); }

template <typename T>
T Must(Result<T> r, const char* what) {
  FUZZ_CHECK(r.ok(), std::string(what) + ": " + r.status().ToString());
  return std::move(r).value();
}

void TextSeeds(const std::string& target, std::initializer_list<std::string_view> texts) {
  int i = 0;
  for (std::string_view t : texts) Seed(target, std::to_string(i++), Text(t));
}

void CtlSeeds() {
  TextSeeds("ctl_command", {"flush", "flush\n", "help\n", "snapshot\n", "snapshot nightly-2024.01_a\n",
                            "delete s1", "rollback s1\n", "gc\n", "drain\n", "drain 30s\n", "loglevel debug\n",
                            "loglevel\n", " \tsnapshot \t a  \n", "", "\n", "snap\nshot", "delete", "delete a b",
                            "snapshot .hidden", "snapshot a/b", "unknown-command x", "flush\x7f", "flush\r\n",
                            "drain 500ms\n", "drain 2m", "drain 604800\n", "drain 10080m", "drain 0", "drain 1.5s",
                            "drain 10h", "drain 30 s"});
  Seed("ctl_command", "too-long", Bytes(kMaxCtlCommand + 1, 'a'));
}

void MountOptionSeeds() {
  TextSeeds("mount_options",
            {"cache_size=1G", "cache_size=256M,dirty_max=128M", "io=plain,direct,page_cache,ro",
             "sync_delay=200us,loglevel=debug", "s3_credentials=/root/.aws/credentials",
             "allow_other,default_permissions,max_read=131072,fsname=a\\,b", "dirty_max=2G,cache_size=1G",
             "cache_size=15T", "cache_size=16777215T", "cache_size=16777216T", "64KiB", "1kB", "18446744073709551615",
             "18446744073709551616", "0", "2ms", "3600s", "3601s", "3600000000us", "io=io_uring,rw", "direct=1",
             "cache_size", "-o", "cache_size=1G,,ro"});
}

void StoreUrlSeeds() {
  TextSeeds("store_url", {"file:///srv/vol/archive", "file:///", "file:///srv//a///", "file:///mnt/my%20disk/a%25b",
                          "file://host/srv", "file:relative", "s3://bucket", "s3://my-bucket/pre/fix",
                          "s3://my-bucket/p?endpoint=http://127.0.0.1:9000&region=us-east-1",
                          "s3://b.c.d/p/?region=eu-west-3&endpoint=HTTPS://[::1]:443/",
                          "s3://bkt?endpoint=http://user:pw@host", "s3://192.168.1.1", "s3://bkt#frag",
                          "s3://bkt?endpoint=http%3A%2F%2Fh%3A1", "s3://bkt?region=", "s3://bkt?x=1", "ftp://x"});
}

SnapshotRecord Record(std::string name, uint64_t size, uint32_t chunk, uint32_t fanout) {
  SnapshotRecord r;
  for (size_t i = 0; i < r.volume.size(); ++i) r.volume[i] = static_cast<uint8_t>(0x40 + i);
  r.name = std::move(name);
  r.created_ns = 1700000000123456789ull;
  r.volume_size = size;
  r.chunk_size = chunk;
  r.fanout = fanout;
  r.depth = Must(IndexGeometry::Make(r.chunk_count(), fanout), "geometry").depth;
  r.root = P("root");
  r.parent = P("parent");
  return r;
}

void SnapshotRecordSeeds() {
  std::vector<SnapshotRecord> records = {Record("20240101T000000Z", 1ull << 30, 65536, 256),
                                         Record("a", 4096, 4096, 2),
                                         Record(std::string(64, 'z'), 1ull << 50, 1u << 30, 4096),
                                         Record("odd-size.v2_x", 1000000007, 8192, 16)};
  records[1].root = Pointer();
  records[1].parent = Pointer();
  for (size_t i = 0; i < records.size(); ++i)
    Seed("snapshot_record", "record" + std::to_string(i), Flag(0, Must(EncodeSnapshotRecord(records[i]), "encode")));
  Seed("snapshot_record", "build", Flag(4, Noise(1, 200)));
}

Bytes IndexHeader(uint8_t flags, int fanout_exp, uint64_t chunks, uint8_t height, uint64_t node) {
  Bytes h(19, 0);
  h[0] = flags;
  h[1] = static_cast<uint8_t>(fanout_exp - 1);
  PutLE64(&h[2], chunks);
  h[10] = static_cast<uint8_t>(height - 1);
  PutLE64(&h[11], node);
  return h;
}

void IndexNodeSeeds() {
  // fanout 4, 10 chunks: depth 2; the last leaf (chunks 8..9) uses 2 slots.
  Seed("index_node", "last-leaf", Cat(IndexHeader(0, 2, 10, 1, 2), EncodeIndexNode({P("c8"), P("c9"), {}, {}})));
  Seed("index_node", "root", Cat(IndexHeader(0, 2, 10, 2, 0), EncodeIndexNode({P("n0"), {}, P("n2"), {}})));
  Seed("index_node", "past-end", Cat(IndexHeader(0, 2, 10, 1, 2), EncodeIndexNode({P("c8"), P("c9"), P("x"), {}})));
  std::vector<Pointer> full(32);
  for (size_t i = 0; i < full.size(); ++i) full[i] = P(std::to_string(i));
  Seed("index_node", "fanout32", Cat(IndexHeader(0, 5, 1000, 2, 0), EncodeIndexNode(full)));
  // Sparse form: (slot, 32 bytes) pairs over a null node of 256 slots.
  Bytes sparse = IndexHeader(1, 8, 65536, 2, 0);
  for (int s : {0, 7, 255}) {
    const Pointer p = P(std::to_string(s));
    sparse = Cat(sparse, Bytes(p.bytes().begin(), p.bytes().end()));
    sparse.push_back(static_cast<uint8_t>(s));
    sparse.push_back(0);
  }
  Seed("index_node", "sparse256", sparse);
  for (uint32_t i = 0; i < 4; ++i) Seed("index_tree", "noise" + std::to_string(i), Noise(10 + i, 64u << (2 * i)));
}

void CatalogSeeds() {
  const CatalogEntry nightly{"nightly", 1700000000000000000ull, P("record")};
  const CatalogEntry longest{std::string(64, 'x'), 0, P("r2")};
  for (uint8_t flags : {0, 4, 12}) {
    Seed("catalog_entry", "nightly-" + std::to_string(flags), Flag(flags, EncodeCatalogEntry(nightly)));
    Seed("catalog_entry", "longest-" + std::to_string(flags), Flag(flags, EncodeCatalogEntry(longest)));
  }
  Seed("catalog_entry", "build", Flag(16, Noise(2, 120)));
}

void UploadRecordSeeds() {
  UploadEntry ref;
  ref.kind = UploadEntry::Kind::kRef;
  ref.seq = 7;
  ref.ref_name = "volumes/8c1f0e2a-3b4c-4d5e-8f60-718293a4b5c6/snapshots/s1";
  ref.ref_data = Text(P("record").Hex() + "\n");
  ref.key = Pointer::Of(ref.ref_data);
  Seed("upload_log_record", "ref-queued", Flag(0, EncodeQueuedRecord(ref)));
  Seed("upload_log_record", "blob-queued", Flag(0, EncodeUploadRecord(UploadRecordType::kBlobQueued, 1, P("b"))));
  Seed("upload_log_record", "blob-data",
       Flag(0, EncodeUploadRecord(UploadRecordType::kBlobData, 2, P("d"), Text("some blob bytes"))));
  for (auto type : {UploadRecordType::kBlobDone, UploadRecordType::kRefDone, UploadRecordType::kBlobLost})
    Seed("upload_log_record", "settle" + std::to_string(static_cast<int>(type)), Flag(0, EncodeUploadRecord(type, 3, P("b"))));
  Seed("upload_log_record", "build", Flag(8, Noise(3, 300)));
}

// A log as the Paired store leaves it: entries queued, some settled, one lost.
Bytes WrittenLog(const fuzz::ScratchDir& dir) {
  UploadLogOptions options;
  options.sync_published = [] { return Status::OK(); };
  const std::string path = dir / kUploadLogFile;
  auto log = Must(UploadLog::Open(path, options), "open upload log");
  uint64_t a = Must(log->AppendBlob(P("a")), "append");
  Must(log->AppendBlobs(std::vector<Pointer>{P("b"), P("c")}), "append blobs");
  uint64_t d = Must(log->AppendBlobData(P("d"), Text("data of blob d")), "append data");
  uint64_t r = Must(log->AppendRef("volumes/v/snapshots/s1", Text(P("rec").Hex() + "\n")), "append ref");
  FUZZ_CHECK(log->MarkDone(a).ok() && log->MarkLost(d).ok() && log->MarkDone(r).ok(), "settle");
  Must(log->AppendBlobData(P("e"), Bytes(200, 0xee)), "append data");
  FUZZ_CHECK(log->Sync().ok(), "sync");
  log.reset();
  return Must(ReadSmallFile(path, kNoSizeLimit), "read log");
}

void UploadLogSeeds() {
  fuzz::ScratchDir dir;
  const Bytes log = WrittenLog(dir);
  Seed("upload_log_replay", "written", Flag(0, log));
  Seed("upload_log_replay", "written-open", Flag(4, log));
  Bytes torn(log.begin(), log.begin() + static_cast<long>(log.size() - 100));
  Seed("upload_log_replay", "torn-open", Flag(4, torn));
  Bytes corrupt = log;
  corrupt[64 * 2 + 9] ^= 0x10;  // a bad record with good ones after it
  Seed("upload_log_replay", "corrupt-open", Flag(4, corrupt));
  Seed("upload_log_replay", "zeros-open", Flag(4, Bytes(256, 0)));
  // The replay of a record with seq 2^64-1 once left next_seq below it (fuzzing found it).
  Bytes top = EncodeUploadRecord(UploadRecordType::kBlobQueued, 5, P("a"));
  top = Cat(top, EncodeUploadRecord(UploadRecordType::kBlobData, UINT64_MAX, P("b"), Text("data")));
  top = Cat(top, EncodeUploadRecord(UploadRecordType::kBlobQueued, UINT64_MAX, P("c")));
  Seed("upload_log_replay", "top-seq-open", Flag(4, top));
  Seed("upload_log_replay", "not-a-log-open", Flag(4, Text("hello, world")));
  for (uint8_t flags : {1, 3, 7}) Seed("upload_log_replay", "program" + std::to_string(flags), Flag(flags, Noise(flags, 400)));
}

Bytes TrackerHeader(uint8_t flags, int chunk_exp, uint32_t chunks, uint16_t short_by) {
  Bytes h(8, 0);
  h[0] = flags;
  h[1] = static_cast<uint8_t>(chunk_exp);
  PutLE32(&h[2], chunks - 1);
  PutLE16(&h[6], short_by);
  return h;
}

void ChangeTrackerSeeds() {
  fuzz::ScratchDir dir;
  struct Geometry { int exp; uint32_t chunks; uint16_t short_by; };
  for (Geometry g : {Geometry{0, 100, 0}, Geometry{4, 40000, 1000}}) {
    const uint32_t chunk_size = 4096u << g.exp;
    const uint64_t volume = uint64_t{g.chunks} * chunk_size - g.short_by;
    const std::string path = dir / ("changes" + std::to_string(g.chunks));
    auto t = Must(ChangeTracker::Create(path, volume, chunk_size), "create tracker");
    FUZZ_CHECK(t->WillChange(0, 1).ok() && t->WillChange(volume - 1, 1).ok() &&
                   t->WillChange(volume / 3, chunk_size * 5).ok() && t->Sync().ok(),
               "mark");
    t.reset();
    const Bytes file = Must(ReadSmallFile(path, kNoSizeLimit), "read tracker");
    const std::string name = std::to_string(g.chunks);
    Seed("change_tracker", "file" + name, Cat(TrackerHeader(1, g.exp, g.chunks, g.short_by), file));
    Seed("change_tracker", "program" + name, Cat(TrackerHeader(0, g.exp, g.chunks, g.short_by), Noise(g.chunks, 64)));
  }
}

void VolumeConfigSeeds() {
  VolumeConfig c;
  c.uuid = "8c1f0e2a-3b4c-4d5e-8f60-718293a4b5c6";
  c.size = 1ull << 30;
  c.slow_url = "file:///srv/vol/archive";
  const std::string file = c.Serialize();
  Seed("volume_config", "file", Flag(0, Text(file)));
  Seed("volume_config", "body", Flag(1, Text(file.substr(0, file.rfind("checksum")))));
  c.block_size = 512;
  c.chunk_size = 64u << 20;
  c.size = 64ull << 30;
  c.image = "/dev/disk/by-id/some-disk";
  c.slow_url = "s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1";
  Seed("volume_config", "s3", Flag(0, Text(c.Serialize())));
  Seed("volume_config", "build", Flag(2, Noise(4, 200)));
}

void S3Seeds() {
  const std::string head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  const std::string list =
      head + "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>bucket</Name>"
             "<Prefix>pre/blobs/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys>"
             "<IsTruncated>true</IsTruncated><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="
             "</NextContinuationToken><Contents><Key>pre/blobs/ab/" + P("x").Hex() +
             "</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;"
             "</ETag><Size>65536</Size><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>pre/a&amp;b&#x20;"
             "&#233;&#128512;</Key></Contents></ListBucketResult>";
  Seed("s3_xml", "list", Flag(0, Text(list)));
  Seed("s3_xml", "last-page", Flag(0, Text(head + "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>")));
  Seed("s3_xml", "error", Flag(0, Text(head + "<Error><Code>SlowDown</Code><Message>Please reduce your request rate."
                                              "</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>")));
  Seed("s3_xml", "build", Flag(1, Noise(5, 300)));

  const std::string creds =
      "# ~/.aws/credentials\n[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
      "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\n[profile prod]\n"
      "aws_access_key_id=AKIAPROD\naws_secret_access_key=secret\naws_session_token = token==\n; end\n";
  Seed("s3_credentials", "default", Flag(0, Text(creds)));
  Seed("s3_credentials", "prod", Flag(1, Text(creds)));
  Seed("s3_credentials", "bad-header", Flag(0, Text("[default\naws_access_key_id=a\n")));
  Seed("s3_credentials", "build", Flag(2, Noise(6, 120)));
}

void PointerRefSeeds() {
  const std::string hex = P("record").Hex();
  Seed("pointers_refs", "hex", Flag(0, Text(hex)));
  Seed("pointers_refs", "ref-value", Flag(1, Text(EncodeSnapshotRefValue(P("record")))));
  Seed("pointers_refs", "ref-name", Flag(2, Text("volumes/8c1f0e2a-3b4c-4d5e-8f60-718293a4b5c6/snapshots/s1")));
  Seed("pointers_refs", "ref-prefix", Flag(2, Text("volumes/")));
  Seed("pointers_refs", "uuid", Flag(3, Text("8c1f0e2a-3b4c-4d5e-8f60-718293a4b5c6")));
  Seed("pointers_refs", "snapshot-name", Flag(4, Text("20240101T000000Z")));
  fuzz::ScratchDir dir;
  FUZZ_CHECK(WriteSnapshotBase(dir.path(), P("record")).ok(), "write base");
  const Bytes base = Must(ReadSmallFile(dir / kSnapshotBaseFile, 4096), "read base");
  Seed("pointers_refs", "base", Flag(5, base));
  Seed("pointers_refs", "base-fixed", Flag(6, base));
  Seed("pointers_refs", "marker-fresh", Flag(7, Text("amberfs gc marker, unix time 1700000000\n")));
  Seed("pointers_refs", "marker-future", Flag(7, Text("amberfs gc marker, unix time 99999999999999999999\n")));
}

// Packs as PackWriter lays them out: aligned blobs, then the table and trailer.
void PackSeeds() {
  Bytes pack;
  std::vector<PackEntry> entries;
  for (size_t size : {size_t{300}, size_t{0}, size_t{64}, size_t{1}}) {
    pack.resize((pack.size() + 63) / 64 * 64, 0);
    Bytes blob = Noise(static_cast<uint32_t>(size), size);
    entries.push_back({Pointer::Of(blob), pack.size(), static_cast<uint32_t>(size), static_cast<uint32_t>(size % 4)});
    pack.insert(pack.end(), blob.begin(), blob.end());
    Seed("pack_format", "pack" + std::to_string(entries.size()), Flag(0, Cat(pack, EncodePackTail(entries, pack.size()))));
  }
  // Sealed tables (version 2) under pack_format_fuzz.cc's fixed key.
  SecretKey key;
  for (size_t i = 0; i < SecretKey::kSize; ++i) key.data()[i] = static_cast<uint8_t>(i + 1);
  auto tables = VolumeCodec::Make(false, &key).value().PackTables();
  Seed("pack_format", "sealed" + std::to_string(entries.size()),
       Flag(0, Cat(pack, EncodeSealedPackTail(entries, pack.size(), *tables).value())));
  Seed("pack_format", "build", Flag(2, Noise(4, 400)));
}

// The blob index's records as BlobIndex writes them.
void BlobIndexSeeds() {
  std::vector<IndexUpdate> updates = {{P("a"), false, {P("pack1"), 0, 65536, 1}},
                                      {P("b"), true, {}},
                                      {P("c"), false, {P("pack2"), 4096, 8192, 2}},
                                      {P("d"), false, {P("pack1"), 65536, 200, 3}}};
  Seed("blob_index_format", "log", Flag(0, EncodeIndexLogRecord(updates)));
  IndexManifest m{5, {{2, 1000}, {4, 17}}, 6};
  Seed("blob_index_format", "manifest", Flag(1, Text(EncodeIndexManifest(m))));
  SegmentHeader h;
  h.bloom_probes = 7;
  h.entry_count = 1000;
  h.pack_count = 4;
  h.bloom_words = 157;
  Seed("blob_index_format", "segment", Flag(2, EncodeSegmentHeader(h)));
  Seed("blob_index_format", "build", Flag(8, Noise(5, 400)));
}

void RollbackIntentSeeds() {
  fuzz::ScratchDir dir;
  for (const std::string& name : {std::string("s1"), std::string("nightly-2024.01_a"), std::string(64, 'z')}) {
    FUZZ_CHECK(WriteRollbackIntent(dir.path(), {name, P(name)}).ok(), "write intent");
    const Bytes intent = Must(ReadSmallFile(dir / kRollbackIntentFile, 4096), "read intent");
    Seed("rollback_intent", "file-" + std::to_string(name.size()), Flag(0, intent));
    Seed("rollback_intent", "fixed-" + std::to_string(name.size()), Flag(3, intent));
  }
  Seed("rollback_intent", "build", Flag(4, Noise(7, 60)));
}

// Key objects: the layout by hand (a wrap's salt and nonce are random, and
// seeds must not change from run to run), flag 1 fixing the checksum up.
void KeyObjectSeeds() {
  for (uint8_t log2_n : {10, 15, 21}) {
    Bytes obj(kKeyObjectBytes, 0);
    std::copy_n("AMBRKEYS", 8, obj.begin());
    PutLE16(obj.data() + 8, 1);
    obj[10] = 1;
    obj[11] = log2_n;
    PutLE32(obj.data() + 12, 8);
    PutLE32(obj.data() + 16, 1);
    std::copy_n("AMSB\x01", 5, obj.begin() + 52);
    PutLE32(obj.data() + 60, 32);
    Seed("key_object", "fixed-n" + std::to_string(log2_n), Flag(3, obj));
    Seed("key_object", "raw-n" + std::to_string(log2_n), Flag(0, obj));
  }
  Seed("key_object", "build", Flag(4, Noise(11, 80)));
}

// Blob envelopes from the encoder: plain ones (deterministic; a sealed one
// has a random nonce, so build mode makes those).
void BlobEnvelopeSeeds() {
  const std::string text = "a block of text that compresses: the volume, the snapshot, the store. ";
  Bytes repeated;
  for (int i = 0; i < 40; ++i) repeated = Cat(repeated, Text(text));
  const std::pair<const char*, Bytes> blobs[] = {{"empty", {}}, {"text", repeated}, {"noise", Noise(12, 300)}};
  for (const auto& [name, blob] : blobs) {
    for (bool compress : {false, true}) {
      const Bytes env = Must(EncodeBlob(blob, "fuzz", {compress, 1, nullptr}), "encode envelope");
      Seed("blob_envelope", std::string(name) + (compress ? "-zstd" : "-raw"), Flag(0, env));
      Seed("blob_envelope", std::string(name) + (compress ? "-zstd" : "-raw") + "-keyed", Flag(3, env));
    }
  }
  Seed("blob_envelope", "build", Flag(4, Cat(Bytes{1, 1, 1, 4, 'n', 'a', 'm', 'e'}, Text(text))));
  Seed("blob_envelope", "build-plain", Flag(4, Cat(Bytes{1, 0, 2, 0}, Noise(13, 100))));
}

// Stored blobs and refs as each codec writes them (volume_codec_fuzz.cc: the
// flags pick the codec and the role). Encrypted forms are deterministic
// (synthetic nonce), so they are seeds too.
void VolumeCodecSeeds() {
  SecretKey master;
  for (size_t i = 0; i < SecretKey::kSize; ++i) master.data()[i] = static_cast<uint8_t>(i * 13 + 5);
  const std::string line = "a block of text that compresses: the volume, the snapshot, the store. ";
  Bytes text;
  for (int i = 0; i < 40; ++i) text = Cat(text, Text(line));
  const Bytes noise = Noise(14, 300);
  for (unsigned codec = 0; codec < 4; ++codec) {
    const bool compress = codec == 1 || codec == 2;
    const VolumeCodec c = Must(VolumeCodec::Make(compress, codec >= 2 ? &master : nullptr), "codec");
    for (unsigned role = 0; role < 3; ++role) {
      const BlobRole r = role == 0 ? BlobRole::kChunk : role == 1 ? BlobRole::kNode : BlobRole::kRecord;
      for (const auto& [name, blob] : {std::pair<const char*, const Bytes&>{"text", text}, {"noise", noise}}) {
        StoredBlob stored = Must(c.Encode(r, blob), "encode");
        Seed("volume_codec", "c" + std::to_string(codec) + "-r" + std::to_string(role) + "-" + name,
             Flag(static_cast<uint8_t>(codec | role << 2), Bytes(stored.bytes().begin(), stored.bytes().end())));
      }
    }
    const Bytes ref = Must(c.SealRef("volumes/u/snapshots/fuzz", Text(std::string(64, 'a') + "\n")), "seal ref");
    Seed("volume_codec", "c" + std::to_string(codec) + "-ref", Flag(static_cast<uint8_t>(codec | 3 << 2), ref));
  }
}

// A file the real writer made, its first line swapped for `line` (the pid
// and time of this run would make the seed change at every run).
Bytes WithFirstLine(Bytes written, std::string_view line) {
  const auto nl = std::find(written.begin(), written.end(), uint8_t{'\n'});
  written.erase(written.begin(), nl);
  return Cat(Text(line), written);
}

void VolumeHolderSeeds() {
  fuzz::ScratchDir dir;
  {
    VolumeLock lock = Must(VolumeLock::Acquire(dir.path(), "mount"), "lock");
    FUZZ_CHECK(lock.MarkMounted().ok(), "mark mounted");
    const Bytes marker = Must(ReadSmallFile(dir / kMountedMarker, 4096), "read marker");
    Seed("volume_holder", "mounted", Flag(0, WithFirstLine(marker, "mounted by pid 4242 at 2026-01-02T03:04:05Z")));
  }
  const Bytes lock = Must(ReadSmallFile(dir / kLockFile, 4096), "read lock");
  Seed("volume_holder", "lock", Flag(1, WithFirstLine(lock, "mount by pid 4242 since 2026-01-02T03:04:05Z")));
  Seed("volume_holder", "pid-max", Flag(0, Text("mounted by pid 2147483647 at 2026-01-02T03:04:05Z\n")));
  Seed("volume_holder", "pid-wraps", Flag(1, Text("mount by pid 4294967338 since 2026-01-02T03:04:05Z\n")));
  Seed("volume_holder", "long-line", Flag(0, Bytes(4097, 'x')));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: gen_seeds CORPUS_DIR\n");
    return 2;
  }
  fuzz::QuietLogs();
  g_root = argv[1];
  CtlSeeds();
  MountOptionSeeds();
  StoreUrlSeeds();
  SnapshotRecordSeeds();
  IndexNodeSeeds();
  CatalogSeeds();
  UploadRecordSeeds();
  UploadLogSeeds();
  PackSeeds();
  BlobIndexSeeds();
  ChangeTrackerSeeds();
  VolumeConfigSeeds();
  S3Seeds();
  PointerRefSeeds();
  RollbackIntentSeeds();
  VolumeHolderSeeds();
  KeyObjectSeeds();
  BlobEnvelopeSeeds();
  VolumeCodecSeeds();
  std::printf("gen_seeds: wrote the seeds under %s\n", g_root.c_str());
  return 0;
}
