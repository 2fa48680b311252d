// The Vulkan backend's device layer: the loader opened with dlopen (a machine
// without it simply has no devices), device enumeration and choice, memory
// blocks, compute pipelines built from the SPIR-V embedded at build time, and a
// recorder that puts many dispatches into one command buffer and one submit.
// Only compiled when the build found the Vulkan headers and glslc
// (KILN_HAVE_VULKAN); see kernels/binding.gyp.
#pragma once
#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include <stddef.h>
#include <stdint.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace kvk {

// What kiln knows about one physical device.
struct DeviceInfo {
  std::string name;
  VkPhysicalDeviceType type;
  uint32_t vendor_id = 0, device_id = 0, api_version = 0;
  uint64_t device_local_bytes = 0; // the largest device-local heap
  bool storage16 = false;          // 16-bit storage in storage buffers
  bool storage8 = false;           // 8-bit storage in storage buffers
  bool float16 = false, int8 = false; // shader arithmetic
  bool int_dot = false;            // VK_KHR_shader_integer_dot_product
  bool coop_matrix = false;        // VK_KHR_cooperative_matrix
  bool memory_budget = false;      // VK_EXT_memory_budget
  uint32_t subgroup_size = 0;
  bool subgroup_arith = false, subgroup_shuffle = false;
  uint32_t max_shared = 0;         // bytes of shared memory per workgroup
  uint64_t max_storage_range = 0;  // maxStorageBufferRange
  uint64_t storage_align = 0;      // minStorageBufferOffsetAlignment
  VkPhysicalDevice pd = VK_NULL_HANDLE;
};

const char *type_name(VkPhysicalDeviceType t);

// Loads the loader and enumerates the devices once. false (why set) when there
// is no loader, no instance or no device; never throws.
bool init(std::string *why);
const std::vector<DeviceInfo> &devices();

// The device kiln would use: KILN_GPU=none gives -1; KILN_VULKAN_DEVICE=N that
// device; else the best of discrete > integrated > virtual > CPU, where a CPU
// device (lavapipe) counts only when allow_cpu or KILN_GPU=vulkan. why says
// why there is none.
int choose(bool allow_cpu, std::string *why);

// A buffer with its own memory: one of the "few large blocks".
struct Buffer {
  VkBuffer buf = VK_NULL_HANDLE;
  VkDeviceMemory mem = VK_NULL_HANDLE;
  VkDeviceSize size = 0;
  void *map = nullptr; // host-visible buffers stay mapped
};

// A bound range of a buffer.
struct Range {
  const Buffer *b;
  VkDeviceSize offset, bytes;
};

struct Pipeline {
  VkDescriptorSetLayout dsl = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  VkPipeline pipe = VK_NULL_HANDLE;
  uint32_t bindings = 0;
};

class Device {
 public:
  explicit Device(int index);
  ~Device();
  bool ok() const { return ok_; }
  const std::string &error() const { return error_; }
  const DeviceInfo &info() const { return info_; }

  // device_local: device-local memory (falls back to any memory); else host-visible and coherent, mapped.
  bool alloc(Buffer *b, VkDeviceSize bytes, bool device_local, std::string *why);
  void free(Buffer *b);
  // Copies to or from a buffer through a staging buffer (or directly when mapped); waits.
  bool upload(const Buffer &b, VkDeviceSize offset, const void *src, size_t bytes, std::string *why);
  bool download(const Buffer &b, VkDeviceSize offset, void *dst, size_t bytes, std::string *why);

  // The compute pipeline of a shader (`bindings` storage buffers, push constants
  // up to 128 bytes, specialization constant 0 = spec), built on first use.
  const Pipeline *pipeline(const char *shader, uint32_t bindings, uint32_t spec, std::string *why);

  // Recording: begin(), then dispatches (each followed by a barrier) and copies, then submit() which waits.
  bool begin(std::string *why);
  bool dispatch(const Pipeline *p, const std::vector<Range> &bufs, const void *push, uint32_t push_bytes, uint32_t gx,
                uint32_t gy, uint32_t gz, std::string *why);
  void copy(const Buffer &src, VkDeviceSize so, const Buffer &dst, VkDeviceSize dof, VkDeviceSize bytes);
  bool submit(std::string *why);

  uint64_t allocated() const { return allocated_; }
  std::mutex &lock() { return mu_; }

 private:
  void barrier();
  bool ensure_staging(VkDeviceSize bytes, std::string *why);
  bool one_shot_copy(const Buffer &src, VkDeviceSize so, const Buffer &dst, VkDeviceSize dof, VkDeviceSize bytes,
                     std::string *why);

  bool ok_ = false;
  std::string error_;
  DeviceInfo info_;
  VkDevice dev_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t family_ = 0;
  VkCommandPool cmd_pool_ = VK_NULL_HANDLE;
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  std::vector<VkDescriptorPool> pools_;
  size_t pool_used_ = 0; // pools_[0..pool_used_] are in use this recording
  uint32_t mem_device_ = UINT32_MAX, mem_host_ = UINT32_MAX;
  std::map<std::string, Pipeline> pipes_;
  Buffer staging_;
  uint64_t allocated_ = 0;
  bool recording_ = false;
  std::mutex mu_;
};

// The process-wide device of that index (created on first use; NULL with why when it cannot be).
Device *device(int index, std::string *why);

} // namespace kvk
