// The report: classes, exit codes, and the text and JSON renderings.
#include <cinttypes>
#include <cstdio>

#include "fsck/internal.h"

namespace amberfs {
namespace {

struct ClassInfo {
  const char* id;
  const char* singular;
  const char* plural;
};

constexpr ClassInfo kClasses[kFsckClassCount] = {
    {"config", "config problem", "config problems"},
    {"image", "image problem", "image problems"},
    {"catalog", "bad catalog entry or record", "bad catalog entries or records"},
    {"missing-blob", "missing blob", "missing blobs"},
    {"corrupt-blob", "corrupt blob", "corrupt blobs"},
    {"bad-index-node", "unparsable index node", "unparsable index nodes"},
    {"upload-log", "upload-log problem", "upload-log problems"},
    {"slow-store", "slow-store problem", "slow-store problems"},
    {"change-tracking", "change-tracking problem", "change-tracking problems"},
    {"pack", "pack problem", "pack problems"},
    {"leak", "leaked blob", "leaked blobs"},
    {"note", "note", "notes"},
};

const ClassInfo& Info(FsckClass c) { return kClasses[static_cast<int>(c)]; }

bool IsError(FsckClass c, bool strict) {
  return c != FsckClass::kNote && (c != FsckClass::kLeak || strict);
}

// "1 snapshot", "2 snapshots".
std::string Counted(uint64_t n, const char* singular, const char* plural) {
  return std::to_string(n) + " " + (n == 1 ? singular : plural);
}

std::string Plural(uint64_t n, FsckClass c) { return Counted(n, Info(c).singular, Info(c).plural); }


}  // namespace

const char* FsckClassId(FsckClass c) { return Info(c).id; }
const char* FsckClassLabel(FsckClass c) { return Info(c).plural; }

uint64_t FsckReport::Count(FsckClass c, bool repaired) const {
  uint64_t n = 0;
  for (const FsckProblem& p : problems) n += p.cls == c && p.repaired == repaired;
  return n;
}

uint64_t FsckReport::Errors(bool strict, bool repaired) const {
  uint64_t n = 0;
  for (const FsckProblem& p : problems) n += IsError(p.cls, strict) && p.repaired == repaired;
  return n;
}

int FsckReport::ExitCode(bool strict) const {
  if (Errors(strict, false) > 0) return kFsckUncorrected;
  if (Errors(strict, true) > 0) return kFsckCorrected;
  return kFsckOk;
}


std::string RenderFsckText(const FsckReport& r, bool strict) {
  std::string out = "amberfs volume " + r.voldir;
  if (!r.uuid.empty()) {
    out += ": uuid " + r.uuid + ", " + HumanBytes(r.volume_size) + ", " + HumanBytes(r.chunk_size) + " chunks";
  }
  if (r.mounted) out += " (mounted: checked read-only)";
  out += "\n";
  if (!r.problems.empty()) out += "\n";
  for (const FsckProblem& p : r.problems) {
    std::string tag = p.cls == FsckClass::kLeak   ? "Leaked blob"
                      : p.cls == FsckClass::kNote ? "Note:"
                                                  : std::string("ERROR ") + FsckClassId(p.cls);
    out += std::string(p.repaired ? "Repaired " : "") + tag + " " + p.object + ": " + p.message + "\n";
  }

  // One summary line per class, as qemu-img check does.
  std::string summary;
  for (int i = 0; i < kFsckClassCount; ++i) {
    const FsckClass c = static_cast<FsckClass>(i);
    if (c == FsckClass::kNote) continue;
    uint64_t open = r.Count(c, false), fixed = r.Count(c, true), bytes = 0;
    if (open + fixed == 0) continue;
    for (const FsckProblem& p : r.problems) bytes += p.cls == c ? p.bytes : 0;
    summary += "    " + Plural(open + fixed, c);
    if (bytes > 0) summary += " (" + HumanBytes(bytes) + ")";
    if (fixed > 0) summary += ", " + std::to_string(fixed) + " repaired";
    summary += "\n";
  }
  if (!summary.empty()) out += "\n" + summary;
  out += "\n";

  const uint64_t open = r.Errors(false, false), fixed = r.Errors(false, true);
  if (open + fixed == 0) {
    out += "No errors were found on the volume.\n";
  } else {
    if (fixed > 0) out += std::to_string(fixed) + (fixed == 1 ? " error was" : " errors were") + " found and repaired.\n";
    if (open > 0) {
      out += std::to_string(open) + (open == 1 ? " error was" : " errors were") + " found on the volume" +
             (r.repair ? " and left as they are.\n" : ".\n");
      out += "Data may be corrupted, or snapshots may not be readable or restorable.\n";
    }
  }
  const uint64_t leaks = r.Count(FsckClass::kLeak, false) + r.Count(FsckClass::kLeak, true);
  if (leaks > 0) {
    uint64_t bytes = 0;
    for (const FsckProblem& p : r.problems) bytes += p.cls == FsckClass::kLeak ? p.bytes : 0;
    out += "\n" + Plural(leaks, FsckClass::kLeak) + " (" + HumanBytes(bytes) + ") " +
           (leaks == 1 ? "was" : "were") + " found" +
           (r.Count(FsckClass::kLeak, true) ? ", " + std::to_string(r.Count(FsckClass::kLeak, true)) + " removed" : "") +
           ".\nThis means waste of disk space, but no harm to data" + (strict ? " (an error with --strict).\n" : ".\n");
  }

  const FsckCounts& n = r.counts;
  out += "\n" + Counted(n.snapshots, "snapshot", "snapshots") + ", " +
         Counted(n.index_nodes, "index node", "index nodes") + ", " +
         Counted(n.chunk_blobs, "chunk blob", "chunk blobs") + ", " + HumanBytes(n.referenced_bytes) +
         " referenced; " + Counted(n.fast_blobs, "blob", "blobs") + " in the fast store, " +
         Counted(n.pending_uploads, "upload", "uploads") + " pending.\n";
  if (n.blobs_read > 0) {
    out += "Read " + Counted(n.blobs_read, "blob", "blobs") + " (" + HumanBytes(n.bytes_read) +
           ") and checked " + (n.blobs_read == 1 ? "its" : "their") + " SHA-256.\n";
  }
  if (n.chunks_compared > 0) {
    out += "Compared " + Counted(n.chunks_compared, "unmarked chunk", "unmarked chunks") +
           " of the image with the base snapshot; " + Counted(n.chunks_marked, "chunk is", "chunks are") +
           " marked changed" +
           (n.chunks_remote > 0 ? "; " + Counted(n.chunks_remote, "chunk of this clone is", "chunks of this clone are") +
                                      " still only in the slow store"
                                : std::string()) +
           ".\n";
  }
  if (n.fast_packs > 0 || n.evicted_packs > 0) {
    out += "Fast store: " + Counted(n.fast_packs, "pack", "packs") + " checked";
    if (n.fast_packs_read > 0)
      out += ", " + std::to_string(n.fast_packs_read) + " read whole (" + HumanBytes(n.pack_bytes_read) + ")";
    out += ", " + Counted(n.evicted_packs, "pack", "packs") + " evicted";
    if (n.dead_pack_bytes > 0)
      out += "; " + HumanBytes(n.dead_pack_bytes) + " of dead blobs in live packs (a repack would reclaim them)";
    out += ".\n";
  }
  if (n.slow_packs > 0 || n.slow_pack_objects > 0) {
    out += "Slow store: " + Counted(n.slow_packs, "pack index object", "pack index objects") + ", " +
           Counted(n.slow_pack_objects, "pack object", "pack objects") + " checked.\n";
  }
  if (n.slow_requests > 0 || n.slow_blobs_listed > 0) {
    out += "Slow store: " + Counted(n.slow_requests, "request", "requests");
    if (n.slow_blobs_listed > 0) out += "; " + Counted(n.slow_blobs_listed, "blob", "blobs") + " listed";
    out += ".\n";
  }
  for (const std::string& s : r.skipped) out += "Skipped: " + s + "\n";
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.2f", r.seconds);
  out += std::string("Checked in ") + secs + " s.\n";
  return out;
}

std::string RenderFsckJson(const FsckReport& r, bool strict) {
  std::string out = "{\n";
  auto field = [&](const char* key, const std::string& value, bool last = false) {
    out += "  \"" + std::string(key) + "\": " + value + (last ? "\n" : ",\n");
  };
  auto num = [](uint64_t v) { return std::to_string(v); };
  auto boolean = [](bool v) { return std::string(v ? "true" : "false"); };
  field("volume", JsonString(r.voldir));
  field("uuid", JsonString(r.uuid));
  field("size", num(r.volume_size));
  field("chunk_size", num(r.chunk_size));
  field("mounted", boolean(r.mounted));
  field("repair", boolean(r.repair));
  field("strict", boolean(strict));
  field("exit_code", num(r.ExitCode(strict)));
  field("errors", num(r.Errors(strict, false)));
  field("corrected", num(r.Errors(strict, true)));
  uint64_t leaks = 0, leaked = 0;
  for (const FsckProblem& p : r.problems) {
    if (p.cls != FsckClass::kLeak || p.repaired) continue;
    ++leaks;
    leaked += p.bytes;
  }
  field("leaks", num(leaks));
  field("leaked_bytes", num(leaked));
  const FsckCounts& n = r.counts;
  field("counts", "{\"snapshots\": " + num(n.snapshots) + ", \"index_nodes\": " + num(n.index_nodes) +
                      ", \"chunk_blobs\": " + num(n.chunk_blobs) + ", \"referenced_bytes\": " +
                      num(n.referenced_bytes) + ", \"fast_blobs\": " + num(n.fast_blobs) + ", \"blobs_read\": " +
                      num(n.blobs_read) + ", \"bytes_read\": " + num(n.bytes_read) + ", \"chunks_compared\": " +
                      num(n.chunks_compared) + ", \"chunks_marked\": " + num(n.chunks_marked) +
                      ", \"chunks_remote\": " + num(n.chunks_remote) +
                      ", \"pending_uploads\": " + num(n.pending_uploads) + ", \"slow_blobs_listed\": " +
                      num(n.slow_blobs_listed) + ", \"slow_requests\": " + num(n.slow_requests) +
                      ", \"fast_packs\": " + num(n.fast_packs) + ", \"fast_packs_read\": " + num(n.fast_packs_read) +
                      ", \"pack_bytes_read\": " + num(n.pack_bytes_read) + ", \"evicted_packs\": " +
                      num(n.evicted_packs) + ", \"dead_pack_bytes\": " + num(n.dead_pack_bytes) +
                      ", \"slow_packs\": " + num(n.slow_packs) + ", \"slow_pack_objects\": " +
                      num(n.slow_pack_objects) + "}");
  std::string classes = "{";
  for (int i = 0; i < kFsckClassCount; ++i) {
    const FsckClass c = static_cast<FsckClass>(i);
    uint64_t bytes = 0;
    for (const FsckProblem& p : r.problems) bytes += p.cls == c ? p.bytes : 0;
    classes += std::string(i ? ", " : "") + JsonString(FsckClassId(c)) + ": {\"found\": " +
               num(r.Count(c, false) + r.Count(c, true)) + ", \"repaired\": " + num(r.Count(c, true)) +
               ", \"bytes\": " + num(bytes) + "}";
  }
  field("classes", classes + "}");
  std::string problems = "[";
  for (size_t i = 0; i < r.problems.size(); ++i) {
    const FsckProblem& p = r.problems[i];
    problems += std::string(i ? ",\n    " : "\n    ") + "{\"class\": " + JsonString(FsckClassId(p.cls)) +
                ", \"object\": " + JsonString(p.object) + ", \"message\": " + JsonString(p.message) +
                ", \"bytes\": " + num(p.bytes) + ", \"repaired\": " + boolean(p.repaired) + "}";
  }
  field("problems", problems + (r.problems.empty() ? "]" : "\n  ]"));
  std::string skipped = "[";
  for (size_t i = 0; i < r.skipped.size(); ++i) skipped += std::string(i ? ", " : "") + JsonString(r.skipped[i]);
  field("skipped", skipped + "]");
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.3f", r.seconds);
  field("seconds", secs, true);
  return out + "}\n";
}

}  // namespace amberfs
