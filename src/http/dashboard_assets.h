// The dashboard's files (web/: index.html, app.js, style.css, ...), compiled into the binary
// so the page works offline and with nothing installed beside spate. The table is generated
// at build time from web/ by embed_assets.cmake (see CMakeLists.txt): edit web/, rebuild.
//
// Thread-safety: constant data.
#pragma once

#include <span>
#include <string_view>

namespace spate {

struct DashboardAsset {
  std::string_view path;          // "/index.html", "/app.js"
  std::string_view content_type;  // "text/html; charset=utf-8"
  std::string_view body;
};

// Every embedded file, in file-name order.
std::span<const DashboardAsset> DashboardAssets();

}  // namespace spate
