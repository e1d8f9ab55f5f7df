// The replay driver: runs a fuzz target without libFuzzer, as an ordinary test.
//
// Every fuzz/<name>_fuzz.cc is linked with this file in the normal (g++) builds, release and
// ASan+UBSan, and run by ctest as Fuzz.<name>.Replay: first over every file of its checked-in
// seed corpus, then over deterministic mutations of them (a fixed seed, so a failure is
// reproducible with the same command). That makes each target's invariant a property test
// that runs on every `make test` even where clang's libFuzzer is not built, and keeps every
// crash input added to the corpus a regression test. Coverage-guided search is libFuzzer's
// job (the clang build, `make fuzz`).
//
//   <name>_fuzz_replay CORPUS_DIR... [--runs N] [--seed S] [--verbose]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

using Bytes = std::vector<uint8_t>;

// Bytes that matter to the formats under test (JSON, YAML, HTTP, CQL frames): a mutation
// that writes one of these reaches a parser's branches far more often than a random byte.
constexpr uint8_t kInteresting[] = {'"', '\\', '{', '}', '[', ']',  ',',  ':',  '\n', '\r', ' ',
                                    '0', '-',  'e', 'u', 0,   0x7f, 0x80, 0xc3, 0xff, '#',  '\''};

void Run(const Bytes& input) {
  // A copy of exactly `size` bytes on the heap, as libFuzzer passes it, so that ASan sees a
  // read past the end.
  std::unique_ptr<uint8_t[]> copy(new uint8_t[input.size() == 0 ? 1 : input.size()]);
  if (!input.empty()) std::memcpy(copy.get(), input.data(), input.size());
  LLVMFuzzerTestOneInput(copy.get(), input.size());
}

Bytes Mutate(const std::vector<Bytes>& corpus, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); };
  Bytes out = corpus[pick(corpus.size())];
  const int steps = 1 + static_cast<int>(rng() % 4);
  for (int s = 0; s < steps; ++s) {
    switch (rng() % 8) {
      case 0:  // Flip one bit.
        if (!out.empty()) out[pick(out.size())] ^= static_cast<uint8_t>(1u << (rng() % 8));
        break;
      case 1:  // Overwrite one byte with an interesting one.
        if (!out.empty()) {
          out[pick(out.size())] = kInteresting[pick(std::size(kInteresting))];
        }
        break;
      case 2:  // Insert an interesting byte.
        out.insert(out.begin() + static_cast<std::ptrdiff_t>(pick(out.size() + 1)),
                   kInteresting[pick(std::size(kInteresting))]);
        break;
      case 3: {  // Delete a range.
        if (out.empty()) break;
        const size_t at = pick(out.size());
        const size_t n = 1 + pick(std::min<size_t>(16, out.size() - at));
        out.erase(out.begin() + static_cast<std::ptrdiff_t>(at),
                  out.begin() + static_cast<std::ptrdiff_t>(at + n));
        break;
      }
      case 4:  // Truncate.
        out.resize(pick(out.size() + 1));
        break;
      case 5: {  // Duplicate a range in place (deeper nesting, repeated keys).
        if (out.empty()) break;
        const size_t at = pick(out.size());
        const size_t n = 1 + pick(std::min<size_t>(64, out.size() - at));
        Bytes piece(out.begin() + static_cast<std::ptrdiff_t>(at),
                    out.begin() + static_cast<std::ptrdiff_t>(at + n));
        out.insert(out.begin() + static_cast<std::ptrdiff_t>(at), piece.begin(), piece.end());
        break;
      }
      case 6: {  // Splice: this input's head, another's tail.
        const Bytes& other = corpus[pick(corpus.size())];
        const size_t head = pick(out.size() + 1);
        const size_t tail = pick(other.size() + 1);
        out.resize(head);
        out.insert(out.end(), other.begin() + static_cast<std::ptrdiff_t>(tail), other.end());
        break;
      }
      default: {  // A random byte anywhere.
        if (!out.empty()) out[pick(out.size())] = static_cast<uint8_t>(rng());
        break;
      }
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  std::vector<std::filesystem::path> files;
  uint64_t runs = 2000;
  uint64_t seed = 17;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--runs" && i + 1 < argc) {
      runs = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--verbose") {
      verbose = true;
    } else if (std::filesystem::is_directory(arg)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    } else {
      files.emplace_back(arg);
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "replay: no corpus files given (pass the seed corpus directory)\n");
    return 2;
  }
  std::vector<Bytes> corpus;
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
      return 2;
    }
    corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (verbose) std::fprintf(stderr, "replay: %s\n", path.c_str());
    Run(corpus.back());
  }
  std::mt19937_64 rng(seed);
  for (uint64_t i = 0; i < runs; ++i) {
    const Bytes input = Mutate(corpus, rng);
    if (verbose)
      std::fprintf(stderr, "replay: mutation %llu (%zu bytes)\n",
                   static_cast<unsigned long long>(i), input.size());
    Run(input);
  }
  std::printf("replay: %zu corpus inputs and %llu mutations (seed %llu) passed\n", corpus.size(),
              static_cast<unsigned long long>(runs), static_cast<unsigned long long>(seed));
  return 0;
}
