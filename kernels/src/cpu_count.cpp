// How many threads the kernels use by default: one per physical core this
// process may run on, no more than its CPU quota. SMT siblings share a
// core's execution units, so a second matmul thread on one adds little (the
// work is memory bound) but leaves nothing for the daemon's event loop; a
// container's cpuset or CPU quota (docker --cpus) caps what the process gets,
// and threads past it only wait on each other.
#include "cpu.h"

#include <thread>

#if defined(__linux__)
#include <sched.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#endif

namespace {

#if defined(__linux__)
std::string read_line(const std::string &path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

// Physical cores among the CPUs in the affinity mask: CPUs with the same
// thread_siblings_list are one core. 0 when it cannot be told.
int physical_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
  std::set<std::string> cores;
  int cpus = 0;
  for (int c = 0; c < CPU_SETSIZE; c++) {
    if (!CPU_ISSET(c, &set)) continue;
    cpus++;
    const std::string sib = read_line("/sys/devices/system/cpu/cpu" + std::to_string(c) + "/topology/thread_siblings_list");
    cores.insert(sib.empty() ? "cpu" + std::to_string(c) : sib);
  }
  return cpus == 0 ? 0 : (int)cores.size();
}

// CPUs' worth of the cgroup's quota, rounded up; 0 without a quota.
int cpu_quota() {
  std::istringstream v2(read_line("/sys/fs/cgroup/cpu.max")); // "max 100000" or "200000 100000"
  std::string quota;
  long long period = 0;
  if (v2 >> quota >> period && quota != "max" && period > 0) {
    const long long q = std::stoll(quota);
    if (q > 0) return (int)std::ceil((double)q / (double)period);
  }
  const std::string q1 = read_line("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), p1 = read_line("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  if (!q1.empty() && !p1.empty()) {
    const long long q = std::stoll(q1), p = std::stoll(p1);
    if (q > 0 && p > 0) return (int)std::ceil((double)q / (double)p);
  }
  return 0;
}
#endif

} // namespace

extern "C" int kiln_default_threads(void) {
  const unsigned hw = std::thread::hardware_concurrency();
  int n = hw == 0 ? 1 : (int)hw;
#if defined(__linux__)
  try {
    const int phys = physical_cores();
    if (phys > 0 && phys < n) n = phys;
    const int quota = cpu_quota();
    if (quota > 0 && quota < n) n = quota;
  } catch (...) {
    // unreadable sysfs or a malformed number: keep what the C++ runtime says
  }
#endif
  return n < 1 ? 1 : n;
}
