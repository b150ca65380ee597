//! Structs that can grow: every struct the caller allocates starts with `uint32_t struct_size`,
//! which the caller sets to `sizeof` the struct as its header declares it (README "ABI").
//!
//! - An input struct (config, context, flow tuple) is read up to the caller's `struct_size`:
//!   fields past it (a caller compiled against an older header) take their defaults. A larger
//!   struct (a newer header) is accepted when the bytes this library does not know are all zero,
//!   and refused with `CLOUDSIGHT_RESULT_STRUCT_SIZE` otherwise; so is a struct too small to hold
//!   the fields the call needs.
//! - An output struct (stats, record, app info) is written up to the caller's `struct_size`: an
//!   older caller gets the fields it knows, a newer one gets this library's fields and zeros
//!   after them, and `struct_size` is set to the bytes this library filled.
//! - New fields are only ever appended, after the previous release's `sizeof` (tail padding is
//!   never reused), so a field is either wholly inside a caller's `struct_size` or wholly outside.

use super::cloudsight_result;

/// Largest `struct_size` honoured (a larger one is a corrupt struct, not a future header).
const MAX_STRUCT_SIZE: usize = 1 << 16;

/// A `#[repr(C)]` struct of the ABI that starts with `struct_size: u32`.
///
/// # Safety
/// Implementors are `#[repr(C)]`, start with a `u32` `struct_size`, consist only of integers, raw
/// pointers and arrays of them (every bit pattern is a valid value), and have no padding bytes
/// (every byte is a field's: a test checks each implementor).
pub(crate) unsafe trait Versioned: Copy {
    /// The bytes a caller's struct must hold at least.
    fn min_size() -> usize;
    /// Set every field that does not lie wholly within the first `size` bytes to `defaults`'.
    fn reset_absent(&mut self, defaults: &Self, size: usize);
    /// Bytes of all fields together (equal to `size_of::<Self>()` when there is no padding).
    #[cfg(test)]
    fn field_bytes() -> usize;
}

/// Implement [`Versioned`] for a struct: `min` is the last field a caller must provide; the list
/// names every field in order (an incomplete list fails to compile).
macro_rules! versioned {
    ($t:ident, min = $min:ident, [$($f:ident),+ $(,)?]) => {
        // SAFETY: the struct is repr(C), starts with struct_size, holds only integers, raw
        // pointers and arrays of them; `no_padding` in abi::tests checks the last condition.
        unsafe impl $crate::capi::abi::Versioned for $t {
            fn min_size() -> usize {
                let probe = <$t as $crate::capi::abi::Zeroed>::zeroed();
                ::std::mem::offset_of!($t, $min) + ::std::mem::size_of_val(&probe.$min)
            }
            fn reset_absent(&mut self, defaults: &Self, size: usize) {
                $(
                    if ::std::mem::offset_of!($t, $f) + ::std::mem::size_of_val(&defaults.$f)
                        > size
                    {
                        self.$f = defaults.$f;
                    }
                )+
            }
            #[cfg(test)]
            fn field_bytes() -> usize {
                let probe = <$t as $crate::capi::abi::Zeroed>::zeroed();
                0 $(+ ::std::mem::size_of_val(&probe.$f))+
            }
        }
        const _: fn($t) = |v: $t| {
            // Every field is listed (compile-time check).
            let $t { $($f: _),+ } = v;
        };
    };
}
pub(crate) use versioned;

/// A value with every field zero (NULL pointers).
pub(crate) trait Zeroed {
    fn zeroed() -> Self;
}

/// `Default` for the versioned structs, for Rust callers (tests, fuzz targets): every field zero
/// (NULL) but `struct_size`, which is this library's `sizeof`.
macro_rules! default_with_size {
    ($($t:ident),+) => {
        $(impl Default for $crate::capi::$t {
            fn default() -> Self {
                let mut v = <$crate::capi::$t as Zeroed>::zeroed();
                v.struct_size = ::std::mem::size_of::<$crate::capi::$t>() as u32;
                v
            }
        })+
    };
}

default_with_size!(
    cloudsight_config,
    cloudsight_context,
    cloudsight_flow_tuple,
    cloudsight_stats,
    cloudsight_record,
    cloudsight_app_info,
    cloudsight_usage_row
);

/// Read the caller's `struct_size` at `ptr`.
///
/// # Safety
/// `ptr` is non-NULL and readable for 4 bytes.
unsafe fn struct_size<T>(ptr: *const T) -> usize {
    // SAFETY: readable for the leading u32 (caller contract); no alignment assumed.
    unsafe { (ptr as *const u32).read_unaligned() as usize }
}

/// Read a caller's input struct (see the module docs). NULL is `NullParameter`.
///
/// # Safety
/// `ptr` is NULL or points to a struct readable for its own `struct_size` bytes.
pub(crate) unsafe fn read_input<T: Versioned>(
    ptr: *const T,
    defaults: T,
) -> Result<T, cloudsight_result> {
    if ptr.is_null() {
        return Err(cloudsight_result::NullParameter);
    }
    // SAFETY: non-NULL; a struct starts with its size (caller contract).
    let size = unsafe { struct_size(ptr) };
    let ours = std::mem::size_of::<T>();
    if size < T::min_size() || size > MAX_STRUCT_SIZE {
        return Err(cloudsight_result::StructSize);
    }
    if size > ours {
        // SAFETY: the caller's struct is readable for `size` bytes.
        let tail = unsafe { std::slice::from_raw_parts((ptr as *const u8).add(ours), size - ours) };
        if tail.iter().any(|&b| b != 0) {
            return Err(cloudsight_result::StructSize);
        }
    }
    let mut value = defaults;
    // SAFETY: the caller's struct is readable for `size` >= n bytes; `value` is a T, writable for
    // n <= size_of::<T>() bytes; every bit pattern is a valid T (Versioned's contract).
    unsafe {
        std::ptr::copy_nonoverlapping(
            ptr as *const u8,
            &mut value as *mut T as *mut u8,
            size.min(ours),
        )
    };
    value.reset_absent(&defaults, size);
    Ok(value)
}

/// Write `value` into a caller's output struct of `size` bytes (see the module docs).
///
/// # Safety
/// `ptr` is non-NULL and writable for `size` bytes; `size >= 4`.
pub(crate) unsafe fn write_sized<T: Versioned>(ptr: *mut T, size: usize, value: &T) {
    let ours = std::mem::size_of::<T>();
    let n = size.min(ours);
    // SAFETY: `value` is readable for size_of::<T>() >= n initialised bytes (no padding:
    // Versioned's contract), the caller's struct writable for `size` >= n bytes; they are
    // distinct objects.
    unsafe { std::ptr::copy_nonoverlapping(value as *const T as *const u8, ptr as *mut u8, n) };
    if size > ours {
        // SAFETY: writable for `size` bytes (caller contract).
        unsafe { std::ptr::write_bytes((ptr as *mut u8).add(ours), 0, size - ours) };
    }
    // SAFETY: writable for at least 4 bytes; no alignment assumed.
    unsafe { (ptr as *mut u32).write_unaligned(n as u32) };
}

/// Write `value` into a caller's output struct whose `struct_size` the caller set.
///
/// # Safety
/// `ptr` is NULL or points to a struct writable for its own `struct_size` bytes.
pub(crate) unsafe fn write_output<T: Versioned>(
    ptr: *mut T,
    value: &T,
) -> Result<(), cloudsight_result> {
    if ptr.is_null() {
        return Err(cloudsight_result::NullParameter);
    }
    // SAFETY: non-NULL, starts with its size (caller contract).
    let size = unsafe { struct_size(ptr) };
    check_output_size::<T>(size)?;
    // SAFETY: writable for `size` bytes (caller contract), size >= min_size >= 4.
    unsafe { write_sized(ptr, size, value) };
    Ok(())
}

/// Whether a caller's output struct (or array element) of `size` bytes can be served.
pub(crate) fn check_output_size<T: Versioned>(size: usize) -> Result<(), cloudsight_result> {
    if size < T::min_size().max(4) || size > MAX_STRUCT_SIZE {
        return Err(cloudsight_result::StructSize);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

    fn no_padding<T: Versioned>(name: &str) {
        assert_eq!(
            T::field_bytes(),
            std::mem::size_of::<T>(),
            "{name} has padding bytes: add explicit reserved fields"
        );
    }

    #[test]
    fn versioned_structs_have_no_padding() {
        no_padding::<cloudsight_config>("cloudsight_config");
        no_padding::<cloudsight_context>("cloudsight_context");
        no_padding::<cloudsight_flow_tuple>("cloudsight_flow_tuple");
        no_padding::<cloudsight_stats>("cloudsight_stats");
        no_padding::<cloudsight_record>("cloudsight_record");
        no_padding::<cloudsight_app_info>("cloudsight_app_info");
        no_padding::<cloudsight_usage_row>("cloudsight_usage_row");
    }

    #[test]
    fn a_shorter_input_keeps_defaults_past_its_size() {
        let mut defaults = cloudsight_config::zeroed();
        defaults.max_flows = 7;
        defaults.dns_ttl_ceiling_s = 9;
        let mut caller = cloudsight_config::zeroed();
        caller.max_flows = 100;
        caller.dns_ttl_ceiling_s = 200;
        // As if the caller's header ended right after max_flows.
        caller.struct_size = (std::mem::offset_of!(cloudsight_config, max_flows) + 8) as u32;
        // SAFETY: `caller` is a readable config.
        let read = unsafe { read_input(&caller, defaults) }.unwrap();
        assert_eq!(read.max_flows, 100);
        assert_eq!(
            read.dns_ttl_ceiling_s, 9,
            "a field past struct_size keeps its default"
        );
        // Cutting inside a field leaves that field at its default too.
        caller.struct_size += 4;
        // SAFETY: as above.
        let read = unsafe { read_input(&caller, defaults) }.unwrap();
        assert_eq!(read.max_table_bytes, defaults.max_table_bytes);
        // Too small to hold struct_size itself.
        caller.struct_size = 2;
        // SAFETY: as above.
        let read = unsafe { read_input(&caller, defaults) };
        assert_eq!(read.unwrap_err(), cloudsight_result::StructSize);
    }

    #[test]
    fn a_longer_input_needs_zeros_past_what_we_know() {
        #[repr(C)]
        #[derive(Clone, Copy)]
        struct Newer {
            base: cloudsight_flow_tuple,
            future: u32,
        }
        let mut newer = Newer {
            base: cloudsight_flow_tuple::zeroed(),
            future: 0,
        };
        newer.base.struct_size = std::mem::size_of::<Newer>() as u32;
        newer.base.protocol = 6;
        // A pointer to the whole struct (as C passes it), not to its `base` field alone.
        let whole = (&newer as *const Newer).cast::<cloudsight_flow_tuple>();
        // SAFETY: `newer` is readable for its struct_size.
        let read = unsafe { read_input(whole, cloudsight_flow_tuple::zeroed()) }.unwrap();
        assert_eq!(read.protocol, 6);
        newer.future = 1;
        let whole = (&newer as *const Newer).cast::<cloudsight_flow_tuple>();
        // SAFETY: as above.
        let read = unsafe { read_input(whole, cloudsight_flow_tuple::zeroed()) };
        assert_eq!(read.unwrap_err(), cloudsight_result::StructSize);
    }

    #[test]
    fn outputs_are_written_up_to_the_callers_size() {
        let mut value = cloudsight_stats::zeroed();
        value.packets = 1;
        value.records = 2;
        let mut buf = [0xAAu8; 512];
        let cut = std::mem::offset_of!(cloudsight_stats, records);
        // SAFETY: `buf` is writable for 512 >= cut bytes.
        unsafe { write_sized(buf.as_mut_ptr() as *mut cloudsight_stats, cut, &value) };
        assert_eq!(
            u32::from_ne_bytes(buf[..4].try_into().unwrap()) as usize,
            cut
        );
        assert!(
            buf[cut..].iter().all(|&b| b == 0xAA),
            "nothing past struct_size"
        );
        let big = std::mem::size_of::<cloudsight_stats>() + 16;
        // SAFETY: writable for 512 >= big bytes.
        unsafe { write_sized(buf.as_mut_ptr() as *mut cloudsight_stats, big, &value) };
        let ours = std::mem::size_of::<cloudsight_stats>();
        assert!(
            buf[ours..big].iter().all(|&b| b == 0),
            "unknown fields read zero"
        );
        assert_eq!(
            u32::from_ne_bytes(buf[..4].try_into().unwrap()) as usize,
            ours
        );
    }
}
