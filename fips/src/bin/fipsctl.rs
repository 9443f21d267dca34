fn main() {
    eprintln!("fipsctl: not yet implemented");
    std::process::exit(1);
}
