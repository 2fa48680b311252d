#include "pool.h"

#include "cpu.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// A token needs hundreds of small matvecs back to back; waking a sleeping
// thread costs tens of microseconds each time, so idle workers spin this long
// before they sleep.
const int SPIN_ROUNDS = 20000;

// Protocol: the caller publishes a job and opens it (open_ = its generation);
// a worker enters by incrementing inside_ and then checking the job is still
// open, claims chunks from next_, and leaves. The caller does chunks too, then
// closes the job and waits only for workers inside it. A worker that wakes late
// (descheduled on a busy machine) finds the job closed and never touches it,
// so the caller never waits on a thread that is not running. Entry and close
// are sequentially consistent: either the worker sees the close or the caller
// sees the worker inside.
class Pool {
 public:
  explicit Pool(int threads) {
    const uint64_t start = gen_.load();
    for (int i = 1; i < threads; i++) workers_.emplace_back([this, start] { loop(start); });
  }

  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_.store(true);
    }
    cv_.notify_all();
    for (auto &t : workers_) t.join();
  }

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  void run(kiln_task_fn fn, void *ctx, int64_t n, int64_t grain) {
    if (grain < 1) grain = 1;
    if (workers_.empty() || n <= grain) {
      if (n > 0) fn(ctx, 0, n);
      return;
    }
    fn_ = fn;
    ctx_ = ctx;
    n_ = n;
    grain_ = grain;
    next_.store(0, std::memory_order_relaxed);
    uint64_t g;
    {
      std::lock_guard<std::mutex> lk(mu_);
      g = gen_.load() + 1;
      open_.store(g);  // seq_cst: the job fields above are visible to anyone who sees it open
      gen_.store(g);
    }
    cv_.notify_all();
    work();
    open_.store(0);  // close: no new entrants
    while (inside_.load() != 0) cpu_relax();
  }

 private:
  void work() {
    for (;;) {
      const int64_t b = next_.fetch_add(grain_, std::memory_order_relaxed);
      if (b >= n_) return;
      fn_(ctx_, b, b + grain_ < n_ ? b + grain_ : n_);
    }
  }

  void loop(uint64_t seen) {
    for (;;) {
      int spins = 0;
      while (gen_.load(std::memory_order_acquire) == seen && !stop_.load(std::memory_order_relaxed)) {
        if (++spins < SPIN_ROUNDS) {
          cpu_relax();
          continue;
        }
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return gen_.load() != seen || stop_.load(); });
      }
      if (stop_.load()) return;
      seen = gen_.load();
      inside_.fetch_add(1);
      if (open_.load() == seen) work();
      inside_.fetch_sub(1);
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  // Idle workers spin reading gen_; every chunk claimed in a region writes
  // next_. Separate cache lines keep the claims from invalidating the line
  // the spinners (and late entrants checking open_) read.
  alignas(64) std::atomic<uint64_t> gen_{0};
  std::atomic<uint64_t> open_{0};
  std::atomic<bool> stop_{false};
  alignas(64) std::atomic<int> inside_{0};
  alignas(64) std::atomic<int64_t> next_{0};
  kiln_task_fn fn_ = nullptr;
  void *ctx_ = nullptr;
  int64_t n_ = 0, grain_ = 1;
};

std::mutex g_mu; // one region at a time; also guards g_pool
// Never destroyed at exit: joining threads from a static destructor during
// process teardown can hang; the OS reclaims them.
Pool *g_pool = nullptr;

int default_threads() { return kiln_default_threads(); }

} // namespace

extern "C" void kiln_pool_set_threads(int n) {
  if (n < 1) n = 1;
  if (n > 1024) n = 1024;
  std::lock_guard<std::mutex> lk(g_mu);
  if (g_pool != nullptr && g_pool->threads() == n) return;
  delete g_pool;
  g_pool = new Pool(n);
}

extern "C" int kiln_pool_threads(void) {
  std::lock_guard<std::mutex> lk(g_mu);
  return g_pool != nullptr ? g_pool->threads() : default_threads();
}

extern "C" void kiln_pool_run(kiln_task_fn fn, void *ctx, int64_t n, int64_t grain) {
  std::lock_guard<std::mutex> lk(g_mu);
  if (g_pool == nullptr) g_pool = new Pool(default_threads());
  g_pool->run(fn, ctx, n, grain);
}
