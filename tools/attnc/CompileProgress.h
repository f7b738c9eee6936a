// attnc's progress line: "attnc: compiling causal for cpu ..." on stderr when
// a compile is still running after about a second, and "attnc: compiled
// causal for cpu in 3.2 s" when it ends, so that a long compile never looks
// like a hang. Silent for compiles quicker than that.
#ifndef ATTN_TOOLS_ATTNC_COMPILEPROGRESS_H
#define ATTN_TOOLS_ATTNC_COMPILEPROGRESS_H

#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace attnc {

class CompileProgress {
public:
  /// Starts the clock; `after` < 0 disables the line.
  CompileProgress(std::string what, std::chrono::milliseconds after)
      : what(std::move(what)), start(std::chrono::steady_clock::now()) {
    if (after.count() < 0)
      return;
    watcher = std::thread([this, after] {
      std::unique_lock<std::mutex> lock(mutex);
      if (cv.wait_for(lock, after, [this] { return finished; }))
        return;
      llvm::errs() << "attnc: compiling " << this->what << " ...\n";
      llvm::errs().flush();
      announced = true;
    });
  }
  CompileProgress(const CompileProgress &) = delete;
  CompileProgress &operator=(const CompileProgress &) = delete;

  ~CompileProgress() {
    if (!watcher.joinable())
      return;
    {
      std::lock_guard<std::mutex> lock(mutex);
      finished = true;
    }
    cv.notify_one();
    watcher.join();
    if (!announced)
      return;
    double seconds = std::chrono::duration<double>(
                         std::chrono::steady_clock::now() - start)
                         .count();
    llvm::errs() << "attnc: compiled " << what << " in "
                 << llvm::format("%.1f", seconds) << " s\n";
  }

private:
  std::string what;
  std::chrono::steady_clock::time_point start;
  std::thread watcher;
  std::mutex mutex;
  std::condition_variable cv;
  bool finished = false, announced = false;
};

} // namespace attnc

#endif
