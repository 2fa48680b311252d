// The Vulkan device layer (vk.h): dlopen'ed loader, device choice, memory,
// pipelines and the one-submit recorder.
#include "vk.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kiln_spirv.h"

namespace kvk {

// --- the loader's entry points, looked up by hand ------------------------------

#define KVK_GLOBAL(X) X(vkCreateInstance) X(vkEnumerateInstanceVersion)
#define KVK_INSTANCE(X)                                                                                                  \
  X(vkDestroyInstance) X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties) X(vkGetPhysicalDeviceProperties2) \
  X(vkGetPhysicalDeviceFeatures2) X(vkGetPhysicalDeviceMemoryProperties) X(vkGetPhysicalDeviceQueueFamilyProperties)   \
  X(vkCreateDevice) X(vkEnumerateDeviceExtensionProperties) X(vkDestroyDevice) X(vkGetDeviceQueue) X(vkCreateBuffer)     \
  X(vkDestroyBuffer) X(vkGetBufferMemoryRequirements) X(vkAllocateMemory) X(vkFreeMemory) X(vkBindBufferMemory)         \
  X(vkMapMemory) X(vkUnmapMemory) X(vkCreateShaderModule) X(vkDestroyShaderModule) X(vkCreateDescriptorSetLayout)       \
  X(vkDestroyDescriptorSetLayout) X(vkCreatePipelineLayout) X(vkDestroyPipelineLayout) X(vkCreateComputePipelines)      \
  X(vkDestroyPipeline) X(vkCreateDescriptorPool) X(vkDestroyDescriptorPool) X(vkResetDescriptorPool)                    \
  X(vkAllocateDescriptorSets) X(vkUpdateDescriptorSets) X(vkCreateCommandPool) X(vkDestroyCommandPool)                 \
  X(vkAllocateCommandBuffers) X(vkBeginCommandBuffer) X(vkEndCommandBuffer) X(vkResetCommandBuffer) X(vkCmdBindPipeline) \
  X(vkCmdBindDescriptorSets) X(vkCmdPushConstants) X(vkCmdDispatch) X(vkCmdPipelineBarrier) X(vkCmdCopyBuffer)         \
  X(vkQueueSubmit) X(vkCreateFence) X(vkDestroyFence) X(vkWaitForFences) X(vkResetFences) X(vkDeviceWaitIdle)

namespace {
PFN_vkGetInstanceProcAddr gipa = nullptr;
#define KVK_DECL(f) PFN_##f f = nullptr;
KVK_GLOBAL(KVK_DECL)
KVK_INSTANCE(KVK_DECL)
#undef KVK_DECL

std::once_flag init_once;
bool init_ok = false;
std::string init_why;
VkInstance instance = VK_NULL_HANDLE;
std::vector<DeviceInfo> infos;

// KILN_VULKAN_MEMORY_LIMIT (MiB): the most device memory kiln allocates (0 or unset: the heap), to leave room for
// other programs on the GPU; past it an allocation fails as the device's own out-of-memory does.
uint64_t memory_limit() {
  const char *s = getenv("KILN_VULKAN_MEMORY_LIMIT");
  return s && *s ? (uint64_t)strtoull(s, nullptr, 10) << 20 : 0;
}

bool has_ext(const std::vector<VkExtensionProperties> &exts, const char *name) {
  for (const auto &e : exts)
    if (strcmp(e.extensionName, name) == 0) return true;
  return false;
}

DeviceInfo describe(VkPhysicalDevice pd) {
  DeviceInfo d;
  d.pd = pd;
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(pd, &props);
  d.name = props.deviceName;
  d.type = props.deviceType;
  d.vendor_id = props.vendorID;
  d.device_id = props.deviceID;
  d.api_version = props.apiVersion;
  d.max_shared = props.limits.maxComputeSharedMemorySize;
  d.max_storage_range = props.limits.maxStorageBufferRange;
  d.storage_align = props.limits.minStorageBufferOffsetAlignment;
  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(pd, &mem);
  for (uint32_t i = 0; i < mem.memoryHeapCount; i++)
    if ((mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) && mem.memoryHeaps[i].size > d.device_local_bytes)
      d.device_local_bytes = mem.memoryHeaps[i].size;
  const uint64_t limit = memory_limit();
  if (limit && limit < d.device_local_bytes) d.device_local_bytes = limit;
  uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> exts(n);
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, exts.data());
  d.coop_matrix = has_ext(exts, "VK_KHR_cooperative_matrix");
  d.memory_budget = has_ext(exts, "VK_EXT_memory_budget");
  const bool dot_ext = has_ext(exts, "VK_KHR_shader_integer_dot_product");
  if (VK_API_VERSION_MINOR(props.apiVersion) >= 1 || VK_API_VERSION_MAJOR(props.apiVersion) > 1) {
    VkPhysicalDeviceSubgroupProperties sg{};
    sg.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES;
    VkPhysicalDeviceProperties2 p2{};
    p2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
    p2.pNext = &sg;
    vkGetPhysicalDeviceProperties2(pd, &p2);
    d.subgroup_size = sg.subgroupSize;
    const bool compute = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0;
    d.subgroup_arith = compute && (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    d.subgroup_shuffle = compute && (sg.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);

    VkPhysicalDevice16BitStorageFeatures s16{};
    s16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES;
    VkPhysicalDevice8BitStorageFeatures s8{};
    s8.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES;
    VkPhysicalDeviceShaderFloat16Int8Features f16{};
    f16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES;
    VkPhysicalDeviceShaderIntegerDotProductFeatures dot{};
    dot.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES;
    s16.pNext = &s8;
    s8.pNext = &f16;
    if (dot_ext) f16.pNext = &dot;
    VkPhysicalDeviceFeatures2 f2{};
    f2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    f2.pNext = &s16;
    vkGetPhysicalDeviceFeatures2(pd, &f2);
    d.storage16 = s16.storageBuffer16BitAccess;
    d.storage8 = s8.storageBuffer8BitAccess;
    d.float16 = f16.shaderFloat16;
    d.int8 = f16.shaderInt8;
    d.int_dot = dot_ext && dot.shaderIntegerDotProduct;
  }
  return d;
}

void do_init() {
  // KILN_VULKAN_LOADER names another loader library (tests use a missing one to see the CPU fallback)
  const char *lib = getenv("KILN_VULKAN_LOADER");
  void *h = dlopen(lib && *lib ? lib : "libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h && !(lib && *lib)) h = dlopen("libvulkan.so", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    init_why = "no Vulkan loader (libvulkan.so.1) on this machine";
    return;
  }
  gipa = reinterpret_cast<PFN_vkGetInstanceProcAddr>(dlsym(h, "vkGetInstanceProcAddr"));
  if (!gipa) {
    init_why = "the Vulkan loader has no vkGetInstanceProcAddr";
    return;
  }
#define KVK_LOAD_G(f) f = reinterpret_cast<PFN_##f>(gipa(VK_NULL_HANDLE, #f));
  KVK_GLOBAL(KVK_LOAD_G)
#undef KVK_LOAD_G
  if (!vkCreateInstance) {
    init_why = "the Vulkan loader has no vkCreateInstance";
    return;
  }
  uint32_t version = VK_API_VERSION_1_0;
  if (vkEnumerateInstanceVersion) vkEnumerateInstanceVersion(&version);
  if (version < VK_API_VERSION_1_1) {
    init_why = "the Vulkan loader is older than Vulkan 1.1";
    return;
  }
  VkApplicationInfo app{};
  app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
  app.pApplicationName = "kiln";
  app.pEngineName = "kiln";
  app.apiVersion = VK_API_VERSION_1_1;
  VkInstanceCreateInfo ci{};
  ci.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
  ci.pApplicationInfo = &app;
  VkResult r = vkCreateInstance(&ci, nullptr, &instance);
  if (r != VK_SUCCESS) {
    init_why = "cannot create a Vulkan instance (VkResult " + std::to_string((int)r) + ")";
    return;
  }
#define KVK_LOAD_I(f) f = reinterpret_cast<PFN_##f>(gipa(instance, #f));
  KVK_INSTANCE(KVK_LOAD_I)
#undef KVK_LOAD_I
  uint32_t n = 0;
  if (vkEnumeratePhysicalDevices(instance, &n, nullptr) != VK_SUCCESS || n == 0) {
    init_why = "no Vulkan device";
    return;
  }
  std::vector<VkPhysicalDevice> pds(n);
  vkEnumeratePhysicalDevices(instance, &n, pds.data());
  for (uint32_t i = 0; i < n; i++) {
    DeviceInfo d = describe(pds[i]);
    if (d.api_version >= VK_API_VERSION_1_1) infos.push_back(d);
  }
  if (infos.empty()) {
    init_why = "no Vulkan 1.1 device";
    return;
  }
  init_ok = true;
}

int rank(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 1;
    default: return 0;
  }
}

std::mutex devices_mu;
std::map<int, Device *> opened;

} // namespace

const char *type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
  }
}

bool init(std::string *why) {
  std::call_once(init_once, do_init);
  if (!init_ok && why) *why = init_why;
  return init_ok;
}

const std::vector<DeviceInfo> &devices() {
  init(nullptr);
  return infos;
}

int choose(bool allow_cpu, std::string *why) {
  const char *gpu = getenv("KILN_GPU");
  if (gpu && strcasecmp(gpu, "none") == 0) {
    *why = "KILN_GPU=none";
    return -1;
  }
  if (!init(why)) return -1;
  const bool asked = gpu && strcasecmp(gpu, "vulkan") == 0;
  const char *sel = getenv("KILN_VULKAN_DEVICE");
  if (sel && *sel) {
    char *end;
    long i = strtol(sel, &end, 10);
    if (*end != 0 || i < 0 || i >= (long)infos.size()) {
      *why = std::string("KILN_VULKAN_DEVICE=") + sel + " names no device (there are " + std::to_string(infos.size()) + ")";
      return -1;
    }
    return (int)i;
  }
  int best = -1;
  for (size_t i = 0; i < infos.size(); i++) {
    if (infos[i].type == VK_PHYSICAL_DEVICE_TYPE_CPU && !allow_cpu && !asked) continue;
    if (best < 0 || rank(infos[i].type) > rank(infos[best].type)) best = (int)i;
  }
  if (best < 0) *why = "only a CPU Vulkan device (set KILN_GPU=vulkan to use it)";
  return best;
}

Device *device(int index, std::string *why) {
  if (!init(why)) return nullptr;
  if (index < 0 || index >= (int)infos.size()) {
    *why = "no such Vulkan device";
    return nullptr;
  }
  std::lock_guard<std::mutex> g(devices_mu);
  auto it = opened.find(index);
  if (it == opened.end()) it = opened.emplace(index, new Device(index)).first; // lives for the process
  if (!it->second->ok()) {
    *why = it->second->error();
    return nullptr;
  }
  return it->second;
}

// --- Device ---------------------------------------------------------------------

Device::Device(int index) : info_(infos[index]) {
  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(info_.pd, &nq, nullptr);
  std::vector<VkQueueFamilyProperties> qf(nq);
  vkGetPhysicalDeviceQueueFamilyProperties(info_.pd, &nq, qf.data());
  family_ = UINT32_MAX;
  for (uint32_t i = 0; i < nq; i++)
    if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
      family_ = i;
      break;
    }
  if (family_ == UINT32_MAX) {
    error_ = "the Vulkan device has no compute queue";
    return;
  }
  const float prio = 1.0f;
  VkDeviceQueueCreateInfo qci{};
  qci.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
  qci.queueFamilyIndex = family_;
  qci.queueCount = 1;
  qci.pQueuePriorities = &prio;
  VkDeviceCreateInfo dci{};
  dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  if (vkCreateDevice(info_.pd, &dci, nullptr, &dev_) != VK_SUCCESS) {
    error_ = "cannot create the Vulkan device";
    return;
  }
  vkGetDeviceQueue(dev_, family_, 0, &queue_);
  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(info_.pd, &mem);
  const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  for (uint32_t i = 0; i < mem.memoryTypeCount; i++) {
    const VkMemoryPropertyFlags f = mem.memoryTypes[i].propertyFlags;
    if (mem_device_ == UINT32_MAX && (f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT)) mem_device_ = i;
    if (mem_host_ == UINT32_MAX && (f & hv) == hv) mem_host_ = i;
  }
  if (mem_host_ == UINT32_MAX) {
    error_ = "the Vulkan device has no host-visible coherent memory";
    return;
  }
  if (mem_device_ == UINT32_MAX) mem_device_ = mem_host_;
  VkCommandPoolCreateInfo pci{};
  pci.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
  pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pci.queueFamilyIndex = family_;
  VkCommandBufferAllocateInfo cai{};
  cai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
  cai.commandBufferCount = 1;
  cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  VkFenceCreateInfo fci{};
  fci.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
  if (vkCreateCommandPool(dev_, &pci, nullptr, &cmd_pool_) != VK_SUCCESS ||
      (cai.commandPool = cmd_pool_, vkAllocateCommandBuffers(dev_, &cai, &cmd_) != VK_SUCCESS) ||
      vkCreateFence(dev_, &fci, nullptr, &fence_) != VK_SUCCESS) {
    error_ = "cannot create the Vulkan command buffer";
    return;
  }
  ok_ = true;
}

Device::~Device() {
  if (!dev_) return;
  vkDeviceWaitIdle(dev_);
  free(&staging_);
  for (auto &kv : pipes_) {
    vkDestroyPipeline(dev_, kv.second.pipe, nullptr);
    vkDestroyPipelineLayout(dev_, kv.second.layout, nullptr);
    vkDestroyDescriptorSetLayout(dev_, kv.second.dsl, nullptr);
  }
  for (VkDescriptorPool p : pools_) vkDestroyDescriptorPool(dev_, p, nullptr);
  if (fence_) vkDestroyFence(dev_, fence_, nullptr);
  if (cmd_pool_) vkDestroyCommandPool(dev_, cmd_pool_, nullptr);
  vkDestroyDevice(dev_, nullptr);
}

bool Device::alloc(Buffer *b, VkDeviceSize bytes, bool device_local, std::string *why) {
  *b = Buffer{};
  bytes = (bytes + 15) / 16 * 16; // shaders read 32-bit words: a tensor's last bytes must lie inside the bound range
  VkBufferCreateInfo bci{};
  bci.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
  bci.size = bytes;
  bci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  if (vkCreateBuffer(dev_, &bci, nullptr, &b->buf) != VK_SUCCESS) {
    *why = "cannot create a Vulkan buffer of " + std::to_string(bytes) + " bytes";
    return false;
  }
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(dev_, b->buf, &req);
  VkMemoryAllocateInfo mai{};
  mai.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
  mai.allocationSize = req.size;
  mai.memoryTypeIndex = device_local ? mem_device_ : mem_host_;
  const uint64_t limit = memory_limit();
  if (!(req.memoryTypeBits & (1u << mai.memoryTypeIndex)) || (limit && allocated_ + req.size > limit) ||
      vkAllocateMemory(dev_, &mai, nullptr, &b->mem) != VK_SUCCESS) {
    vkDestroyBuffer(dev_, b->buf, nullptr);
    *b = Buffer{};
    *why = "out of device memory: cannot allocate " + std::to_string(bytes >> 20) + " MiB on " + info_.name + " (" +
           std::to_string(allocated_ >> 20) + " MiB allocated, heap " + std::to_string(info_.device_local_bytes >> 20) +
           " MiB)";
    return false;
  }
  vkBindBufferMemory(dev_, b->buf, b->mem, 0);
  b->size = bytes;
  if (!device_local || mem_device_ == mem_host_) vkMapMemory(dev_, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map);
  allocated_ += req.size;
  return true;
}

void Device::free(Buffer *b) {
  if (!b->buf) return;
  if (b->map) vkUnmapMemory(dev_, b->mem);
  vkDestroyBuffer(dev_, b->buf, nullptr);
  vkFreeMemory(dev_, b->mem, nullptr);
  allocated_ -= allocated_ >= b->size ? b->size : allocated_;
  *b = Buffer{};
}

bool Device::ensure_staging(VkDeviceSize bytes, std::string *why) {
  if (staging_.buf && staging_.size >= bytes) return true;
  free(&staging_);
  return alloc(&staging_, bytes, false, why);
}

bool Device::one_shot_copy(const Buffer &src, VkDeviceSize so, const Buffer &dst, VkDeviceSize dof, VkDeviceSize bytes,
                           std::string *why) {
  if (!begin(why)) return false;
  copy(src, so, dst, dof, bytes);
  return submit(why);
}

static const VkDeviceSize kStagingBytes = 32u << 20;

bool Device::upload(const Buffer &b, VkDeviceSize offset, const void *src, size_t bytes, std::string *why) {
  if (b.map && mem_device_ != mem_host_) { // a host buffer
    memcpy(static_cast<uint8_t *>(b.map) + offset, src, bytes);
    return true;
  }
  if (!ensure_staging(kStagingBytes, why)) return false;
  for (size_t done = 0; done < bytes;) {
    const size_t n = bytes - done < kStagingBytes ? bytes - done : (size_t)kStagingBytes;
    memcpy(staging_.map, static_cast<const uint8_t *>(src) + done, n);
    if (!one_shot_copy(staging_, 0, b, offset + done, n, why)) return false;
    done += n;
  }
  return true;
}

bool Device::download(const Buffer &b, VkDeviceSize offset, void *dst, size_t bytes, std::string *why) {
  if (b.map && mem_device_ != mem_host_) {
    memcpy(dst, static_cast<const uint8_t *>(b.map) + offset, bytes);
    return true;
  }
  if (!ensure_staging(kStagingBytes, why)) return false;
  for (size_t done = 0; done < bytes;) {
    const size_t n = bytes - done < kStagingBytes ? bytes - done : (size_t)kStagingBytes;
    if (!one_shot_copy(b, offset + done, staging_, 0, n, why)) return false;
    memcpy(static_cast<uint8_t *>(dst) + done, staging_.map, n);
    done += n;
  }
  return true;
}

const Pipeline *Device::pipeline(const char *shader, uint32_t bindings, uint32_t spec, std::string *why) {
  const std::string key = std::string(shader) + ":" + std::to_string(spec);
  auto it = pipes_.find(key);
  if (it != pipes_.end()) return &it->second;
  const kiln_spirv_entry *e = kiln_spirv_table;
  while (e->name && strcmp(e->name, shader) != 0) e++;
  if (!e->name) {
    *why = std::string("no shader named ") + shader;
    return nullptr;
  }
  Pipeline p;
  p.bindings = bindings;
  std::vector<VkDescriptorSetLayoutBinding> lb(bindings);
  for (uint32_t i = 0; i < bindings; i++) {
    lb[i] = VkDescriptorSetLayoutBinding{};
    lb[i].binding = i;
    lb[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    lb[i].descriptorCount = 1;
    lb[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  }
  VkDescriptorSetLayoutCreateInfo dci{};
  dci.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
  dci.bindingCount = bindings;
  dci.pBindings = lb.data();
  VkPushConstantRange pcr{VK_SHADER_STAGE_COMPUTE_BIT, 0, 128};
  VkPipelineLayoutCreateInfo plci{};
  plci.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
  plci.setLayoutCount = 1;
  plci.pushConstantRangeCount = 1;
  plci.pPushConstantRanges = &pcr;
  VkShaderModuleCreateInfo smci{};
  smci.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
  smci.codeSize = e->bytes;
  smci.pCode = e->code;
  VkShaderModule mod = VK_NULL_HANDLE;
  if (vkCreateDescriptorSetLayout(dev_, &dci, nullptr, &p.dsl) != VK_SUCCESS ||
      (plci.pSetLayouts = &p.dsl, vkCreatePipelineLayout(dev_, &plci, nullptr, &p.layout) != VK_SUCCESS) ||
      vkCreateShaderModule(dev_, &smci, nullptr, &mod) != VK_SUCCESS) {
    *why = std::string("cannot create the pipeline of ") + shader;
    return nullptr;
  }
  VkSpecializationMapEntry me{0, 0, sizeof(uint32_t)};
  VkSpecializationInfo si{1, &me, sizeof spec, &spec};
  VkComputePipelineCreateInfo cpci{};
  cpci.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
  cpci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  cpci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  cpci.stage.module = mod;
  cpci.stage.pName = "main";
  cpci.stage.pSpecializationInfo = &si;
  cpci.layout = p.layout;
  const VkResult r = vkCreateComputePipelines(dev_, VK_NULL_HANDLE, 1, &cpci, nullptr, &p.pipe);
  vkDestroyShaderModule(dev_, mod, nullptr);
  if (r != VK_SUCCESS) {
    *why = std::string("cannot compile the pipeline of ") + shader;
    return nullptr;
  }
  return &pipes_.emplace(key, p).first->second;
}

bool Device::begin(std::string *why) {
  pool_used_ = 0;
  for (VkDescriptorPool p : pools_) vkResetDescriptorPool(dev_, p, 0);
  vkResetCommandBuffer(cmd_, 0);
  VkCommandBufferBeginInfo bi{};
  bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  if (vkBeginCommandBuffer(cmd_, &bi) != VK_SUCCESS) {
    *why = "cannot begin a Vulkan command buffer";
    return false;
  }
  recording_ = true;
  return true;
}

void Device::barrier() {
  VkMemoryBarrier mb{};
  mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                     VK_ACCESS_TRANSFER_WRITE_BIT;
  const VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  vkCmdPipelineBarrier(cmd_, st, st, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

bool Device::dispatch(const Pipeline *p, const std::vector<Range> &bufs, const void *push, uint32_t push_bytes, uint32_t gx,
                      uint32_t gy, uint32_t gz, std::string *why) {
  VkDescriptorSet set = VK_NULL_HANDLE;
  for (;;) {
    if (pool_used_ == pools_.size()) {
      const uint32_t sets = 1024;
      VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, sets * 8};
      VkDescriptorPoolCreateInfo dpci{};
      dpci.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
      dpci.maxSets = sets;
      dpci.poolSizeCount = 1;
      dpci.pPoolSizes = &ps;
      VkDescriptorPool pool;
      if (vkCreateDescriptorPool(dev_, &dpci, nullptr, &pool) != VK_SUCCESS) {
        *why = "cannot create a descriptor pool";
        return false;
      }
      pools_.push_back(pool);
    }
    VkDescriptorSetAllocateInfo ai{};
    ai.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
    ai.descriptorPool = pools_[pool_used_];
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &p->dsl;
    if (vkAllocateDescriptorSets(dev_, &ai, &set) == VK_SUCCESS) break;
    pool_used_++; // this pool is full: the next one
  }
  std::vector<VkDescriptorBufferInfo> bi(bufs.size());
  std::vector<VkWriteDescriptorSet> w(bufs.size());
  for (size_t i = 0; i < bufs.size(); i++) {
    bi[i] = VkDescriptorBufferInfo{bufs[i].b->buf, bufs[i].offset, bufs[i].bytes};
    w[i] = VkWriteDescriptorSet{};
    w[i].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
    w[i].dstSet = set;
    w[i].dstBinding = (uint32_t)i;
    w[i].descriptorCount = 1;
    w[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    w[i].pBufferInfo = &bi[i];
  }
  vkUpdateDescriptorSets(dev_, (uint32_t)w.size(), w.data(), 0, nullptr);
  vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipe);
  vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set, 0, nullptr);
  if (push_bytes) vkCmdPushConstants(cmd_, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, push);
  vkCmdDispatch(cmd_, gx, gy, gz);
  barrier();
  return true;
}

void Device::copy(const Buffer &src, VkDeviceSize so, const Buffer &dst, VkDeviceSize dof, VkDeviceSize bytes) {
  VkBufferCopy r{so, dof, bytes};
  vkCmdCopyBuffer(cmd_, src.buf, dst.buf, 1, &r);
  barrier();
}

bool Device::submit(std::string *why) {
  recording_ = false;
  if (vkEndCommandBuffer(cmd_) != VK_SUCCESS) {
    *why = "cannot end the Vulkan command buffer";
    return false;
  }
  VkSubmitInfo si{};
  si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd_;
  vkResetFences(dev_, 1, &fence_);
  VkResult r = vkQueueSubmit(queue_, 1, &si, fence_);
  if (r == VK_SUCCESS) r = vkWaitForFences(dev_, 1, &fence_, VK_TRUE, UINT64_MAX);
  if (r != VK_SUCCESS) {
    *why = "the Vulkan device failed (VkResult " + std::to_string((int)r) + ")";
    return false;
  }
  return true;
}

} // namespace kvk
