#include "phivault/recovery/qr.h"

#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <qrencode.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csetjmp>
#include <memory>

#include "phivault/base/file_util.h"

namespace phivault::recovery {
namespace {

constexpr int kQuietZone = 4;
constexpr int kPixelsPerModule = 8;

struct QrcodeDeleter {
  void operator()(QRcode* code) const {
    // The modules spell out the share; libqrencode frees them without wiping.
    SecureWipe(code->data, static_cast<size_t>(code->width) * static_cast<size_t>(code->width));
    QRcode_free(code);
  }
};

// Whether the module at (row, col) of the symbol with its quiet zone around it is dark. Rows
// and columns past the quiet zone are light as well.
bool DarkWithQuietZone(const internal::QrSymbol& symbol, int row, int col) {
  int r = row - kQuietZone;
  int c = col - kQuietZone;
  return r >= 0 && r < symbol.width && c >= 0 && c < symbol.width && symbol.Dark(r, c);
}

// Where libpng's output goes: the file, and the first write error.
struct PngSink {
  int fd = -1;
  Status status;
};

void PngWrite(png_structp png, png_bytep data, size_t size) {
  auto* sink = static_cast<PngSink*>(png_get_io_ptr(png));
  if (sink->status.ok()) sink->status = WriteAll(sink->fd, ByteSpan(data, size), "qr png");
}

// libpng calls this only when asked to flush; the file is fsynced once at the end instead.
void PngFlush(png_structp) {}

// libpng's default handlers print to stderr; errors come back as a false return instead.
[[noreturn]] void PngError(png_structp png, png_const_charp) { png_longjmp(png, 1); }
void PngWarning(png_structp, png_const_charp) {}

// Encodes the symbol as the PNG WriteQrPng describes into `sink`. `row` has room for one pixel
// row (one byte per module, as 8 one-bit pixels fill a byte). libpng reports errors by longjmp,
// which skips destructors, so nothing in this frame has one: every buffer belongs to the caller.
bool EncodePng(const internal::QrSymbol& symbol, uint8_t* row, PngSink* sink) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, PngError, PngWarning);
  if (png == nullptr) return false;
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    return false;
  }
  if (setjmp(png_jmpbuf(png)) != 0) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, sink, PngWrite, PngFlush);
  const int modules = symbol.width + 2 * kQuietZone;
  const auto pixels = static_cast<png_uint_32>(modules * kPixelsPerModule);
  png_set_IHDR(png, info, pixels, pixels, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int r = 0; r < modules; ++r) {
    // In 1-bit grayscale 0 is black.
    for (int c = 0; c < modules; ++c) row[c] = DarkWithQuietZone(symbol, r, c) ? 0x00 : 0xFF;
    for (int i = 0; i < kPixelsPerModule; ++i) png_write_row(png, row);
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

Status WritePngToFd(const internal::QrSymbol& symbol, int fd, const std::string& path) {
  if (fchmod(fd, 0600) != 0) return ErrnoToStatus(errno, "chmod " + path);
  SecretBytes row(static_cast<size_t>(symbol.width + 2 * kQuietZone));
  PngSink sink{fd, OkStatus()};
  bool encoded = EncodePng(symbol, row.data(), &sink);
  PHV_RETURN_IF_ERROR(sink.status.WithContext("write " + path));
  if (!encoded) return InternalError("libpng failed to encode the qr code for " + path);
  if (fsync(fd) != 0) return ErrnoToStatus(errno, "fsync " + path);
  return OkStatus();
}

}  // namespace

namespace internal {

Result<QrSymbol> EncodeQr(std::string_view text) {
  if (text.empty()) return InvalidArgumentError("cannot make a qr code of empty text");
  if (text.find('\0') != std::string_view::npos) {
    return InvalidArgumentError("qr code text must not contain a NUL character");
  }
  // libqrencode wants a C string; this copy is as secret as the text.
  SecretBytes c_string(text.size() + 1);
  std::copy(text.begin(), text.end(), c_string.data());
  errno = 0;
  // Version 0 picks the smallest symbol that fits. QR_MODE_8 only says how to encode characters
  // outside the alphanumeric set; libqrencode still uses alphanumeric mode where it can.
  std::unique_ptr<QRcode, QrcodeDeleter> code(
      QRcode_encodeString(reinterpret_cast<const char*>(c_string.data()), 0, QR_ECLEVEL_M,
                          QR_MODE_8, /*casesensitive=*/1));
  if (code == nullptr) {
    if (errno == ERANGE) return InvalidArgumentError("the text is too long for a qr code");
    if (errno == ENOMEM) return ResourceExhaustedError("out of memory making a qr code");
    return InternalError("libqrencode failed to make a qr code");
  }

  QrSymbol symbol;
  symbol.width = code->width;
  symbol.modules = SecretBytes(static_cast<size_t>(code->width) * static_cast<size_t>(code->width));
  // Bit 0 of each byte is the module's colour; the other bits are libqrencode's bookkeeping.
  for (size_t i = 0; i < symbol.modules.size(); ++i) {
    symbol.modules.data()[i] = code->data[i] & 1u;
  }
  return symbol;
}

}  // namespace internal

Result<std::string> QrForTerminal(std::string_view text, TerminalColors colors) {
  PHV_ASSIGN_OR_RETURN(internal::QrSymbol symbol, internal::EncodeQr(text));
  const int modules = symbol.width + 2 * kQuietZone;
  const int lines = (modules + 1) / 2;
  const bool ink_is_dark = colors == TerminalColors::kDarkOnLight;

  // Reserved for the worst case (3 UTF-8 bytes per character), so the string never reallocates
  // and leaves no unwiped copy behind.
  std::string out;
  out.reserve(static_cast<size_t>(lines) * (3 * static_cast<size_t>(modules) + 1));
  for (int line = 0; line < lines; ++line) {
    for (int col = 0; col < modules; ++col) {
      bool upper = DarkWithQuietZone(symbol, 2 * line, col) == ink_is_dark;
      bool lower = DarkWithQuietZone(symbol, 2 * line + 1, col) == ink_is_dark;
      if (upper && lower) {
        out += "\u2588";  // █ full block
      } else if (upper) {
        out += "\u2580";  // ▀ upper half block
      } else if (lower) {
        out += "\u2584";  // ▄ lower half block
      } else {
        out += ' ';
      }
    }
    out += '\n';
  }
  return out;
}

Status WriteQrPng(std::string_view text, const std::string& path) {
  PHV_ASSIGN_OR_RETURN(internal::QrSymbol symbol, internal::EncodeQr(text));
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoToStatus(errno, "create " + path);
  UniqueFd file(fd);
  Status status = WritePngToFd(symbol, file.get(), path);
  if (status.ok() && close(file.Release()) != 0) status = ErrnoToStatus(errno, "close " + path);
  if (!status.ok()) {
    // The file is ours (O_EXCL); a partial image of a share is of no use to anyone.
    file.Reset();
    unlink(path.c_str());
  }
  return status;
}

}  // namespace phivault::recovery
