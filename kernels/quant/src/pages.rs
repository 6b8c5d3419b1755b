//! Where a matrix's tiles live: memory the kernel is asked to back with 2 MiB pages.
//!
//! Decode streams every weight once per token. With 4 KiB pages that is a TLB miss every
//! 4 KiB (a 1 GB file crosses a quarter of a million pages per token), and the
//! CPU's stream prefetchers stop at every page boundary. On Linux, where transparent huge
//! pages are usually left to `madvise`, an anonymous buffer gets 2 MiB pages only when it
//! asks for them; llama.cpp's mapped file gets large page-cache folios instead. Measured on
//! the 2-core Zen 4 host with the host's THP switched between `never` and `madvise`
//! (alternated runs of `examples/local_infer`): a 1B Q4_K_M decode +5% (median of 10 pairs,
//! 9 faster), a 1.7B one unchanged within the noise, and its prompt +11%.

use std::alloc::{self, Layout};
use std::ops::Deref;
use std::ptr::NonNull;

/// The huge page size on x86-64 and most aarch64 kernels.
const HUGE_PAGE: usize = 2 << 20;

/// A fixed-capacity buffer of `T`, filled once by `push`: its storage starts on a 2 MiB
/// boundary when it spans at least one huge page, and is advised to use huge pages before
/// the first write so the kernel backs it with them at fault time.
pub(crate) struct Pages<T> {
    ptr: NonNull<T>,
    len: usize,
    capacity: usize,
    layout: Layout,
}

// SAFETY: `Pages` owns its `T`s as a `Vec` does.
unsafe impl<T: Send> Send for Pages<T> {}
// SAFETY: shared access only reads through `&[T]`.
unsafe impl<T: Sync> Sync for Pages<T> {}

impl<T> Pages<T> {
    /// Room for `capacity` values, none written yet; `OutOfMemory` when that many cannot
    /// be addressed.
    pub(crate) fn with_capacity(capacity: usize) -> std::io::Result<Pages<T>> {
        let layout = Self::layout(capacity).ok_or(std::io::ErrorKind::OutOfMemory)?;
        let ptr = if layout.size() == 0 {
            NonNull::dangling()
        } else {
            // SAFETY: the layout's size is not zero.
            let raw = unsafe { alloc::alloc(layout) };
            let Some(ptr) = NonNull::new(raw.cast::<T>()) else {
                alloc::handle_alloc_error(layout)
            };
            advise_huge(raw, layout.size());
            ptr
        };
        Ok(Pages {
            ptr,
            len: 0,
            capacity,
            layout,
        })
    }

    /// `value` after the last one written.
    ///
    /// # Panics
    /// When the buffer is full: its size is fixed when it is made.
    pub(crate) fn push(&mut self, value: T) {
        assert!(self.len < self.capacity, "Pages::push past its capacity");
        // SAFETY: `len < capacity`, so the slot is inside the allocation and unwritten.
        unsafe { self.ptr.as_ptr().add(self.len).write(value) };
        self.len += 1;
    }

    fn layout(capacity: usize) -> Option<Layout> {
        let layout = Layout::array::<T>(capacity).ok()?;
        if layout.size() >= HUGE_PAGE {
            layout.align_to(HUGE_PAGE).ok()
        } else {
            Some(layout)
        }
    }
}

impl<T> Deref for Pages<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        // SAFETY: the first `len` values are written, and `ptr` is aligned (or dangling for
        // an empty buffer, which a zero-length slice allows).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for Pages<T> {
    fn drop(&mut self) {
        // SAFETY: the first `len` values are written and dropped only here.
        unsafe {
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                self.ptr.as_ptr(),
                self.len,
            ))
        };
        if self.layout.size() != 0 {
            // SAFETY: allocated with this same layout in `with_capacity`.
            unsafe { alloc::dealloc(self.ptr.as_ptr().cast(), self.layout) };
        }
    }
}

/// Asks the kernel for huge pages over a buffer not yet touched. Only a hint: a kernel with
/// transparent huge pages off, or too fragmented to find 2 MiB, falls back to small pages.
#[cfg(target_os = "linux")]
fn advise_huge(start: *mut u8, size: usize) {
    if size >= HUGE_PAGE {
        // SAFETY: the range is one allocation this buffer owns; the advice changes how it is
        // backed, never its contents.
        let _ =
            unsafe { rustix::mm::madvise(start.cast(), size, rustix::mm::Advice::LinuxHugepage) };
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_start: *mut u8, _size: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_holds_what_was_pushed_and_drops_it() {
        let counter = std::rc::Rc::new(());
        let mut pages = Pages::with_capacity(3).unwrap();
        for _ in 0..3 {
            pages.push(counter.clone());
        }
        assert_eq!(pages.len(), 3);
        assert_eq!(std::rc::Rc::strong_count(&counter), 4);
        drop(pages);
        assert_eq!(std::rc::Rc::strong_count(&counter), 1);
    }

    #[test]
    fn a_buffer_of_a_huge_page_or_more_starts_on_a_huge_page_boundary() {
        let mut pages = Pages::<[u8; 4096]>::with_capacity(1024).unwrap();
        pages.push([7; 4096]);
        assert_eq!(pages.as_ptr() as usize % HUGE_PAGE, 0);
        assert_eq!(pages[0][4095], 7);
    }

    /// Under Debian's default (`madvise`), a buffer that did not ask gets small pages only.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_large_buffer_is_backed_by_huge_pages_where_the_kernel_offers_them() {
        let offered =
            |path: &str| std::fs::read_to_string(path).is_ok_and(|s| !s.contains("[never]"));
        if !offered("/sys/kernel/mm/transparent_hugepage/enabled")
            || !offered("/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/enabled")
        {
            eprintln!("skipped: transparent huge pages are off on this kernel");
            return;
        }
        let mut pages = Pages::<[u8; 4096]>::with_capacity(2048).unwrap();
        for _ in 0..2048 {
            pages.push([1; 4096]);
        }
        assert!(
            huge_kib_at(pages.as_ptr() as usize) > 0,
            "8 MiB of tiles on small pages only"
        );
    }

    /// `AnonHugePages` of the mapping in /proc/self/smaps that holds `address`.
    #[cfg(target_os = "linux")]
    fn huge_kib_at(address: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((from, to)) = range.split_once('-') {
                    if let (Ok(from), Ok(to)) = (
                        usize::from_str_radix(from, 16),
                        usize::from_str_radix(to, 16),
                    ) {
                        inside = (from..to).contains(&address);
                        continue;
                    }
                }
            }
            if let Some(kib) = line.strip_prefix("AnonHugePages:").filter(|_| inside) {
                return kib.trim().trim_end_matches(" kB").parse().unwrap();
            }
        }
        0
    }

    #[test]
    #[should_panic(expected = "past its capacity")]
    fn pushing_past_the_capacity_panics_rather_than_writing_out_of_bounds() {
        let mut pages = Pages::with_capacity(1).unwrap();
        pages.push(1u32);
        pages.push(2u32);
    }
}
