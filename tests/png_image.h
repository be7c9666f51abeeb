// A PNG the plotting code wrote, decoded for the tests that count its pixels (test_inspect.cpp,
// test_neuron_inspect.cpp). Each including file compiles its own static copy of the decoder (as
// test_plot.cpp does), so this header defines it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

#include "host/report/canvas.h"

namespace dynpmnn::testing {

struct Image {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb;

  bool load(const std::filesystem::path& path) {
    int channels = 0;
    std::uint8_t* pixels = stbi_load(path.string().c_str(), &width, &height, &channels, 3);
    if (pixels == nullptr) return false;
    rgb.assign(pixels, pixels + 3 * static_cast<std::size_t>(width) * height);
    stbi_image_free(pixels);
    return true;
  }
  // Pixels inside [area] (excluding its frame) that are not white / are exactly `c`.
  int count(const PlotArea& a, const Rgb* c = nullptr) const {
    int n = 0;
    for (int y = a.top + 1; y < a.bottom; ++y)
      for (int x = a.left + 1; x < a.right; ++x) {
        const std::uint8_t* p = &rgb[3 * (static_cast<std::size_t>(y) * width + x)];
        n += c == nullptr ? !(p[0] == 255 && p[1] == 255 && p[2] == 255)
                          : (p[0] == (*c)[0] && p[1] == (*c)[1] && p[2] == (*c)[2]);
      }
    return n;
  }
};

}  // namespace dynpmnn::testing
