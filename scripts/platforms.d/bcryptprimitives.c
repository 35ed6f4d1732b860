/* A stand-in for Windows' bcryptprimitives.dll, for running the Windows
 * build under Wine 8, which lacks it (Rust's std calls ProcessPrng since
 * 1.78). A test fixture only: the release runs on real Windows. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
