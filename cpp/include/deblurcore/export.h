#pragma once
// The library is built with hidden visibility; the public API is exported explicitly.
// Exception classes carry the attribute on both sides of the library boundary so that their
// type information is shared and `catch (const deblurcore::Error&)` works in client code.
#define DEBLURCORE_API __attribute__((visibility("default")))
