// Line plots as PNG through gnuplot (Debian's gnuplot-nox): panels side by
// side, several named series per panel. Used for training curves.
#pragma once
#include <string>
#include <vector>

namespace moco::cli {

struct Series {
  std::string name;
  std::vector<double> x, y;
  std::string color = "";  // e.g. "#1f77b4"; empty: gnuplot's next colour
};

struct Panel {
  std::string title, xlabel, ylabel;
  std::vector<Series> series;
  std::string key = "bottom right";  // legend position (gnuplot's `set key ...`)
};

// Writes `png` (and the gnuplot script and data beside it, `png` + ".gp").
// Throws with a hint to install gnuplot-nox when gnuplot is missing.
void plot_png(const std::string& png, const std::vector<Panel>& panels, int width = 1200, int height = 450);

}  // namespace moco::cli
