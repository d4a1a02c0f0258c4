fn main() {
    let pb = indicatif::ProgressBar::new(10);
    pb.inc(1);
    pb.finish();
}
