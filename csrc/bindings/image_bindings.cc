// flowmod._native's image surface: ImageRecordIter's last per-image step (csrc/image/).
// flowmod/io/image_record_aug.py checks the arguments; the checks here guard memory only.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <optional>
#include <stdexcept>
#include <string>

#include "image/to_chw.h"

namespace py = pybind11;

namespace flowmod::bindings {

namespace {

DType OutType(const py::array& dst) {
  const char kind = dst.dtype().kind();
  const auto size = dst.itemsize();
  if (kind == 'f' && size == 4) return DType::kFloat32;
  if (kind == 'f' && size == 2) return DType::kFloat16;
  if (kind == 'u' && size == 1) return DType::kUint8;
  if (kind == 'i' && size == 1) return DType::kInt8;
  throw std::invalid_argument("image_to_chw: dst must be float32, float16, uint8 or int8");
}

void CheckShapes(const py::array& img, int y0, int x0, const py::array& dst) {
  if (img.ndim() != 3 || img.dtype().kind() != 'u' || img.itemsize() != 1)
    throw std::invalid_argument("image_to_chw: img must be an HWC uint8 array");
  // One channel may come as a 2-D image with a new axis (channel stride 0).
  if ((img.shape(2) > 1 && img.strides(2) != 1) || img.strides(1) != img.shape(2))
    throw std::invalid_argument("image_to_chw: img's pixels must be contiguous");
  if (dst.ndim() != 3 || !(dst.flags() & py::array::c_style) || !dst.writeable())
    throw std::invalid_argument("image_to_chw: dst must be a writable C-contiguous CHW array");
  if (dst.shape(0) != img.shape(2) || dst.shape(0) < 1 || dst.shape(0) > 4)
    throw std::invalid_argument("image_to_chw: img and dst must have the same 1-4 channels");
  if (y0 < 0 || x0 < 0 || y0 + dst.shape(1) > img.shape(0) || x0 + dst.shape(2) > img.shape(1))
    throw std::invalid_argument("image_to_chw: the crop lies outside the image");
}

}  // namespace

void BindImage(py::module_& m) {
  m.def(
      "image_to_chw",
      [](const py::array& img, int y0, int x0, bool mirror, const std::vector<int>& source,
         const std::vector<float>& mean, const std::vector<float>& mult,
         const std::vector<float>& bias, std::optional<py::array> mean_img, py::array dst) {
        CheckShapes(img, y0, x0, dst);
        image::ToCHWArgs a;
        a.channels = static_cast<int>(dst.shape(0));
        a.height = static_cast<int>(dst.shape(1));
        a.width = static_cast<int>(dst.shape(2));
        const size_t c = static_cast<size_t>(a.channels);
        if (source.size() != c || mean.size() != c || mult.size() != c || bias.size() != c)
          throw std::invalid_argument("image_to_chw: source, mean, mult and bias need one "
                                      "value per channel");
        for (size_t k = 0; k < c; ++k) {
          if (source[k] < 0 || source[k] >= a.channels)
            throw std::invalid_argument("image_to_chw: source channel out of range");
          a.source[k] = source[k];
          a.mean[k] = mean[k];
          a.mult[k] = mult[k];
          a.bias[k] = bias[k];
        }
        if (mean_img) {
          const py::array& mi = *mean_img;
          if (mi.ndim() != 3 || mi.dtype().kind() != 'f' || mi.itemsize() != 4 ||
              !(mi.flags() & py::array::c_style) || mi.shape(0) != dst.shape(0) ||
              mi.shape(1) != dst.shape(1) || mi.shape(2) != dst.shape(2))
            throw std::invalid_argument("image_to_chw: mean_img must be float32 like dst");
          a.mean_img = static_cast<const float*>(mi.data());
        }
        a.out_type = OutType(dst);
        a.row_stride = img.strides(0);
        a.src = static_cast<const uint8_t*>(img.data()) + y0 * img.strides(0) + x0 * a.channels;
        a.mirror = mirror;
        a.dst = dst.mutable_data();
        py::gil_scoped_release nogil;
        image::ToCHW(a);
      },
      py::arg("img"), py::arg("y0"), py::arg("x0"), py::arg("mirror"), py::arg("source"),
      py::arg("mean"), py::arg("mult"), py::arg("bias"), py::arg("mean_img"), py::arg("dst"),
      "Writes the crop of img (HWC uint8) at (y0, x0) of dst's height and width into dst "
      "(CHW): channel k from source[k], mirrored if asked, (pixel - mean) * mult + bias for "
      "float dst, raw pixels for uint8, saturated pixel - round(mean) for int8. Releases the "
      "GIL.");
}

}  // namespace flowmod::bindings
