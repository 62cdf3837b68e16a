//! Rust caller attribution: the socket calls are made from named
//! functions of this crate (through the C API, as a Rust program using the
//! libc crate or a C library binding does).
extern "C" {
    fn socket(domain: i32, ty: i32, protocol: i32) -> i32;
    fn close(fd: i32) -> i32;
}

mod transport {
    pub struct Handle(pub i32);

    impl Handle {
        #[inline(never)]
        pub fn open() -> Handle {
            let fd = unsafe { super::socket(2, 2, 0) }; // MARK:socket
            assert!(fd >= 0);
            Handle(fd)
        }
    }

    impl Drop for Handle {
        #[inline(never)]
        fn drop(&mut self) {
            let r = unsafe { super::close(self.0) }; // MARK:close
            assert_eq!(r, 0);
        }
    }
}

fn main() {
    let h = transport::Handle::open();
    std::hint::black_box(&h);
    drop(h);
}
