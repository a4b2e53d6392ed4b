#include "tools/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>

#include "tensor/error.h"

namespace moco::cli {

static std::string quoted(const std::string& s) {
  std::string o = "\"";
  for (char c : s) o += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return o + "\"";
}

void plot_png(const std::string& png, const std::vector<Panel>& panels, int width, int height) {
  MOCO_CHECK(!panels.empty(), "plot: nothing to plot");
  MOCO_CHECK(std::system("command -v gnuplot > /dev/null 2>&1") == 0,
             "plot: gnuplot not found; install it with `apt-get install gnuplot-nox` (or `make deps`)");
  const std::string dat = png + ".dat", gp = png + ".gp";
  std::ofstream d(dat);
  // One gnuplot data block per series, separated by two blank lines (index i).
  int block = 0;
  std::string script = fmt::format(
      "set terminal pngcairo noenhanced size {},{} font 'sans,10'\nset output {}\nset multiplot layout 1,{}\n"
      "set grid\n",
      width, height, quoted(png), panels.size());
  for (const Panel& p : panels) {
    // Whole-number x values over a short range (epochs): one tick per value.
    bool integral = true;
    double xmin = 1e300, xmax = -1e300;
    for (const Series& s : p.series)
      for (double x : s.x) {
        integral = integral && x == std::floor(x);
        xmin = std::min(xmin, x);
        xmax = std::max(xmax, x);
      }
    script += integral && xmax >= xmin && xmax - xmin <= 20 ? "set xtics 1\n" : "set xtics autofreq\n";
    script += fmt::format("set key {}\nset title {}\nset xlabel {}\nset ylabel {}\nplot ", p.key, quoted(p.title),
                          quoted(p.xlabel), quoted(p.ylabel));
    for (size_t i = 0; i < p.series.size(); ++i) {
      const Series& s = p.series[i];
      for (size_t k = 0; k < s.x.size() && k < s.y.size(); ++k) d << s.x[k] << " " << s.y[k] << "\n";
      d << "\n\n";
      script += fmt::format("{}{} index {} with linespoints pt 7 ps 0.5 lw 2{} title {}", i ? ", " : "", quoted(dat),
                            block++, s.color.empty() ? "" : " lc rgb " + quoted(s.color), quoted(s.name));
    }
    script += "\n";
  }
  script += "unset multiplot\n";
  d.close();
  std::ofstream(gp) << script;
  const int rc = std::system(("gnuplot " + quoted(gp) + " 2> " + quoted(png + ".log")).c_str());
  MOCO_CHECK(rc == 0, "plot: gnuplot failed on {} (see {}.log)", gp, png);
}

}  // namespace moco::cli
