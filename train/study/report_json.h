// The numbers of the studies' summary.json files (train/study/*_report.cpp
// only): keys in the order written, numbers as the reports round them.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace moco::train {

using StudyJson = nlohmann::ordered_json;

// Rounded to 4 decimals (the digits the summary has always kept), or null
// for NaN and infinities (JSON has no spelling for them).
StudyJson json_num(double v);
StudyJson json_list(const std::vector<double>& v);  // each as json_num
// A setting as the report writes it ({:g}: 0.99, 4096), as a JSON number.
StudyJson json_g(double v);
// Writes `j` atomically, two spaces an indent level and a final newline.
void write_study_json(const std::string& path, const StudyJson& j);

}  // namespace moco::train
