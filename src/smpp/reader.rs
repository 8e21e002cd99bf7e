//! The read half of a bound session ([`Reader`]): PDUs framed from a buffer the session owns,
//! and a receive low-water mark that lets the kernel wake the session once several responses
//! have arrived, rather than once per response, while the window is busy.
//!
//! Why: an SMSC answers the `submit_sm`s of a busy window one by one, each a few microseconds
//! after the last. A session that reads each answer as it comes goes back to sleep between them,
//! so every answer costs a wake-up on our side and, on the SMSC's side, the work of waking us
//! (BENCHMARKS.md, 2026-12-05 late). The session only acts once half of its window is free (it
//! refills then, see `session::run_bound`), so earlier wake-ups buy nothing. With
//! `SO_RCVLOWAT` set to that many answers' bytes, the kernel wakes us when at least that many
//! answers can be there; anything smaller that arrives alone (a lone `deliver_sm`, an
//! `enquire_link`) is read after at most [`LOWAT_FALLBACK`]. With one request or none
//! outstanding the mark is 1 byte: every PDU is read at once.
//!
//! An answer's size is the smallest of the last [`SIZES_KEPT`] responses read (a
//! `submit_sm_resp` is a 16-byte header and the SMSC's message id), 16 bytes until there are
//! that many. Counting every answer as a bare header woke the session after three of the five
//! answers a window of 10 waits for, when ids are ten characters long; the smallest recent size
//! errs the same way only by as much as the ids' lengths differ.
//!
//! With one answer awaited the mark is 1 byte, and the session may ask the reader to poll an
//! empty socket for a short while ([`Reader::set_spin`]) instead of sleeping on it: between
//! looks it yields to the runtime's other tasks, and the runtime looks at the sockets without
//! blocking. At window 1 the answer then is read as it comes rather than after an idle CPU has
//! woken (BENCHMARKS.md, fourteenth session); the session decides when (`src/smpp/poll.rs`).

use std::io;
use std::pin::Pin;
use std::time::Duration;

use bytes::BytesMut;
use rusmpp::CommandId;
use sms_wire::framing::{peek_header, Frame, FramingError, SmppCodec, HEADER_LEN};
use tokio::io::AsyncReadExt;
use tokio::time::{sleep_until, Instant, Sleep};
use tokio_util::codec::Decoder;
use tracing::debug;

use super::transport::ReadSide;

/// Longest a PDU below the low-water mark waits to be read.
pub(crate) const LOWAT_FALLBACK: Duration = Duration::from_millis(1);

/// Responses whose sizes are kept to estimate the next ones (see the module docs).
const SIZES_KEPT: usize = 8;

/// Largest size a response counts for in the estimate: a `submit_sm_resp` with a 64-character
/// message id and room to spare. A larger response (with TLVs) says nothing about the others.
const SIZE_CAP: usize = 96;

/// Room made in the buffer before each read, so that a burst of answers (a hundred
/// `submit_sm_resp`s are about 2.5 KiB) comes in with one syscall. `BytesMut` reuses its
/// allocation for this once the frames before have been split off.
const READ_ROOM: usize = 8 * 1024;

/// Frames from one connection's read half.
pub(crate) struct Reader {
    half: ReadSide,
    buf: BytesMut,
    codec: SmppCodec,
    /// Responses the session wants the low-water mark to wait for (1: none).
    want: usize,
    /// The mark on the socket now, bytes (1: none, read every PDU at once).
    lowat: usize,
    /// Sizes of the last responses read, oldest overwritten first.
    sizes: [usize; SIZES_KEPT],
    /// Where the next size goes in `sizes`.
    next_size: usize,
    /// Whether the socket accepted the mark; if not, the session reads every PDU at once.
    lowat_works: bool,
    fallback: Pin<Box<Sleep>>,
    eof: bool,
    /// Until when an empty socket is polled rather than waited on (see [`Reader::set_spin`]).
    spin_until: Option<Instant>,
}

impl Reader {
    /// A reader over `half`, starting with what `buf` already holds (bytes read with the bind).
    /// Over TLS the low-water mark and polling are off (socket options say nothing about
    /// whole TLS records): every read takes what rustls has decrypted.
    pub(crate) fn new(half: ReadSide, codec: SmppCodec, buf: BytesMut) -> Self {
        let tcp = matches!(half, ReadSide::Tcp(_));
        Self {
            half,
            buf,
            codec,
            want: 1,
            lowat: 1,
            sizes: [HEADER_LEN; SIZES_KEPT],
            next_size: 0,
            lowat_works: tcp,
            fallback: Box::pin(sleep_until(Instant::now())),
            eof: false,
            spin_until: None,
        }
    }

    /// Wait for `responses` PDUs before waking (at least 1). Only noted here: the socket
    /// option is changed when [`Reader::next`] is about to wait for the socket and the number
    /// differs from the one set. The session asks on every loop turn, and while it works
    /// through a burst already read the number falls by one per answer; setting each of those
    /// was a `setsockopt` for every third message at window 100.
    pub(crate) fn set_lowat(&mut self, responses: usize) {
        self.want = responses.max(1);
    }

    /// Poll the socket, letting the runtime's other tasks run between looks, rather than
    /// sleep on it, until `until` (`None`: sleep at once).
    pub(crate) fn set_spin(&mut self, until: Option<Instant>) {
        self.spin_until = until;
    }

    /// Bytes one response is counted for: the smallest of the last ones read.
    fn response_size(&self) -> usize {
        self.sizes.iter().copied().min().unwrap_or(HEADER_LEN)
    }

    /// Note a frame of `len` bytes with `command_id`, if it is a response.
    fn note_frame(&mut self, len: u32, command_id: u32) {
        if CommandId::from(command_id).is_response() {
            self.sizes[self.next_size] = (len as usize).clamp(HEADER_LEN, SIZE_CAP);
            self.next_size = (self.next_size + 1) % SIZES_KEPT;
        }
    }

    /// Put the wanted mark on the socket, if it is not there already. Called when the buffer
    /// holds no whole frame: the bytes it holds (the start of the next one) are counted as
    /// already come, so that a mark for the last answers out cannot ask for more bytes than
    /// they have.
    fn apply_lowat(&mut self) {
        let bytes = if self.want == 1 {
            1
        } else {
            (self.want * self.response_size())
                .saturating_sub(self.buf.len())
                .max(1)
        };
        if bytes == self.lowat || !self.lowat_works {
            return;
        }
        let ReadSide::Tcp(half) = &self.half else {
            return;
        };
        match sockopt::set_rcvlowat(half, bytes) {
            Ok(()) => self.lowat = bytes,
            Err(e) => {
                debug!(error = %e, "SO_RCVLOWAT not accepted: reading every PDU at once");
                self.lowat_works = false;
                self.lowat = 1;
            }
        }
    }

    /// The next frame: `None` when the SMSC closed the connection between PDUs. Cancel-safe:
    /// bytes read stay in the buffer for the next call.
    pub(crate) async fn next(&mut self) -> Option<Result<Frame, FramingError>> {
        loop {
            // The next frame's length and command id, for the response size estimate.
            let head = peek_header(&self.buf);
            match self.codec.decode(&mut self.buf) {
                Ok(Some(frame)) => {
                    if let Some((len, command_id, _, _)) = head {
                        self.note_frame(len, command_id);
                    }
                    return Some(Ok(frame));
                }
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            if self.eof {
                return if self.buf.is_empty() {
                    None
                } else {
                    Some(Err(FramingError::from(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed inside a PDU",
                    ))))
                };
            }
            if let ReadSide::Tls(tls) = &mut self.half {
                self.buf.reserve(READ_ROOM);
                // Cancel-safe: what a cancelled read took stays in rustls for the next one.
                match tls.read_buf(&mut self.buf).await {
                    Ok(0) => self.eof = true,
                    Ok(_) => {}
                    // The SMSC closed the TCP connection without a TLS close_notify (many do,
                    // smsc-sim's drop too). SMPP frames itself: at a PDU boundary nothing can
                    // have been cut off, and it ends the session as a plain close does ("SMSC
                    // closed the connection"), inside a PDU as "closed inside a PDU". Not as
                    // "unframeable input" quoting rustls, which sent operators looking for a
                    // framing fault.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => self.eof = true,
                    Err(e) => return Some(Err(FramingError::from(e))),
                }
                continue;
            }
            self.apply_lowat();
            let ReadSide::Tcp(half) = &self.half else {
                continue;
            };
            let mut looked = false;
            let waited = if self.lowat > 1 {
                // Below the mark the kernel does not wake us: look anyway after a while.
                self.fallback
                    .as_mut()
                    .reset(Instant::now() + LOWAT_FALLBACK);
                tokio::select! {
                    r = half.readable() => r,
                    _ = &mut self.fallback => {
                        looked = true;
                        Ok(())
                    }
                }
            } else if self.spin_until.is_some_and(|until| Instant::now() < until) {
                tokio::task::yield_now().await;
                Ok(())
            } else {
                half.readable().await
            };
            if let Err(e) = waited {
                return Some(Err(FramingError::from(e)));
            }
            self.buf.reserve(READ_ROOM);
            match half.try_read_buf(&mut self.buf) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if looked {
                        // Nothing at all came: the SMSC is slow or idle, not bursting. Wake on
                        // the first byte until the session asks for a mark again, rather than
                        // looking every LOWAT_FALLBACK.
                        self.set_lowat(1);
                        self.apply_lowat();
                    }
                }
                Err(e) => return Some(Err(FramingError::from(e))),
            }
        }
    }
}

/// The one socket option std, tokio and socket2 do not offer.
#[allow(unsafe_code)]
mod sockopt {
    use std::io;
    use std::os::fd::AsRawFd;

    use tokio::net::tcp::OwnedReadHalf;

    /// `setsockopt(SOL_SOCKET, SO_RCVLOWAT, bytes)`.
    pub(super) fn set_rcvlowat(half: &OwnedReadHalf, bytes: usize) -> io::Result<()> {
        let fd = half.as_ref().as_raw_fd();
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fd` is an open socket owned by `half` for the duration of the call, and the
        // option value points to a live c_int of the size given.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// `getsockopt(SOL_SOCKET, SO_RCVLOWAT)`, for the tests.
    #[cfg(test)]
    pub(super) fn rcvlowat(side: &super::ReadSide) -> io::Result<usize> {
        let super::ReadSide::Tcp(half) = side else {
            return Err(io::Error::other("not a TCP read half"));
        };
        let fd = half.as_ref().as_raw_fd();
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: as above; `len` says how much room `value` has.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if rc == 0 {
            Ok(usize::try_from(value).unwrap_or(0))
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rusmpp::{Command, CommandStatus, Pdu};
    use sms_wire::framing::encode_command;
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// A connected pair: our reader's side, and the peer's stream that writes to it.
    async fn pair() -> (Reader, TcpStream) {
        pair_with(BytesMut::new()).await
    }

    /// [`pair`], the reader starting with `buf` already read (as after a bind).
    async fn pair_with(buf: BytesMut) -> (Reader, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (ours, theirs) = tokio::join!(TcpStream::connect(addr), listener.accept());
        // The write half may go: the reader only reads.
        let (read_half, _write_half) = ours.unwrap().into_split();
        let reader = Reader::new(ReadSide::Tcp(read_half), SmppCodec::new(), buf);
        (reader, theirs.unwrap().0)
    }

    fn enquire_link(seq: u32) -> Vec<u8> {
        encode_command(&Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLink))
    }

    async fn next_seq(reader: &mut Reader) -> u32 {
        let frame = tokio::time::timeout(Duration::from_secs(2), reader.next())
            .await
            .expect("a frame within 2 s")
            .expect("not closed")
            .expect("well framed");
        match frame {
            Frame::Pdu(cmd) => cmd.sequence_number(),
            Frame::Invalid(inv) => panic!("invalid frame: {}", inv.error),
        }
    }

    #[tokio::test]
    async fn the_mark_is_set_in_bytes_of_headers_and_back_to_one() {
        let (mut reader, _peer) = pair().await;
        reader.set_lowat(4);
        reader.apply_lowat();
        assert_eq!(sockopt::rcvlowat(&reader.half).unwrap(), 4 * HEADER_LEN);
        reader.set_lowat(0);
        reader.apply_lowat();
        assert_eq!(sockopt::rcvlowat(&reader.half).unwrap(), 1);
        assert_eq!(reader.lowat, 1);
    }

    #[tokio::test]
    async fn the_mark_goes_on_the_socket_only_when_the_reader_waits() {
        let (mut reader, mut peer) = pair().await;
        // Three PDUs in the buffer: the session asks for a new mark before each, as it does
        // while working through a burst, and none of them needs the socket.
        let bytes: Vec<u8> = (1..=3).flat_map(enquire_link).collect();
        reader.set_lowat(2);
        peer.write_all(&bytes).await.unwrap();
        assert_eq!(next_seq(&mut reader).await, 1);
        assert_eq!(sockopt::rcvlowat(&reader.half).unwrap(), 2 * HEADER_LEN);
        for (want, seq) in [(5, 2), (4, 3)] {
            reader.set_lowat(want);
            assert_eq!(next_seq(&mut reader).await, seq);
            assert_eq!(
                sockopt::rcvlowat(&reader.half).unwrap(),
                2 * HEADER_LEN,
                "read from the buffer: the socket's mark is left alone"
            );
        }
        // The buffer is empty: the next wait puts the last mark asked for on the socket.
        reader.set_lowat(3);
        assert!(futures::FutureExt::now_or_never(reader.next()).is_none());
        assert_eq!(sockopt::rcvlowat(&reader.half).unwrap(), 3 * HEADER_LEN);
    }

    /// A `submit_sm_resp` carrying `message_id`, as the SMSC writes it.
    fn submit_sm_resp(seq: u32, message_id: &str) -> Vec<u8> {
        let len = HEADER_LEN + message_id.len() + 1;
        let mut pdu = Vec::with_capacity(len);
        for word in [len as u32, 0x8000_0004, 0, seq] {
            pdu.extend_from_slice(&word.to_be_bytes());
        }
        pdu.extend_from_slice(message_id.as_bytes());
        pdu.push(0);
        pdu
    }

    #[tokio::test]
    async fn the_mark_counts_answers_at_the_size_of_recent_ones() {
        let (mut reader, mut peer) = pair().await;
        // Ten-character ids: 27-byte answers. Until SIZES_KEPT answers were read, 16 bytes each.
        let answers: Vec<u8> = (1..=SIZES_KEPT as u32)
            .flat_map(|seq| submit_sm_resp(seq, &format!("{:010}", seq)))
            .collect();
        reader.set_lowat(5);
        reader.apply_lowat();
        assert_eq!(sockopt::rcvlowat(&reader.half).unwrap(), 5 * HEADER_LEN);
        peer.write_all(&answers).await.unwrap();
        for seq in 1..=SIZES_KEPT as u32 {
            assert_eq!(next_seq(&mut reader).await, seq);
        }
        reader.set_lowat(5);
        reader.apply_lowat();
        assert_eq!(sockopt::rcvlowat(&reader.half).unwrap(), 5 * 27);
        // One shorter answer: the estimate takes the smallest recent size, never more.
        peer.write_all(&submit_sm_resp(9, "7")).await.unwrap();
        reader.set_lowat(1);
        assert_eq!(next_seq(&mut reader).await, 9);
        reader.set_lowat(5);
        reader.apply_lowat();
        assert_eq!(sockopt::rcvlowat(&reader.half).unwrap(), 5 * 18);
        // The start of an answer already in the buffer counts towards the mark.
        let next = submit_sm_resp(10, "7");
        peer.write_all(&next[..10]).await.unwrap();
        let waiting = tokio::spawn(async move {
            let seq = next_seq(&mut reader).await;
            (seq, reader)
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        peer.write_all(&next[10..]).await.unwrap();
        let (seq, mut reader) = waiting.await.unwrap();
        assert_eq!(seq, 10);
        peer.write_all(&next[..10]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        reader.set_lowat(5);
        // The first look reads the 10 bytes and finds no whole frame; the next wait sets the
        // mark net of them.
        assert!(futures::FutureExt::now_or_never(reader.next()).is_none());
        assert_eq!(sockopt::rcvlowat(&reader.half).unwrap(), 5 * 18 - 10);
        peer.write_all(&next[10..]).await.unwrap();
        assert_eq!(next_seq(&mut reader).await, 10);
        // Requests from the SMSC do not count as answers.
        peer.write_all(
            &(10..=10 + SIZES_KEPT as u32)
                .flat_map(enquire_link)
                .collect::<Vec<u8>>(),
        )
        .await
        .unwrap();
        reader.set_lowat(1);
        for seq in 10..=10 + SIZES_KEPT as u32 {
            assert_eq!(next_seq(&mut reader).await, seq);
        }
        reader.set_lowat(5);
        reader.apply_lowat();
        assert_eq!(sockopt::rcvlowat(&reader.half).unwrap(), 5 * 18);
    }

    #[tokio::test]
    async fn a_lone_pdu_below_the_mark_is_still_read() {
        let (mut reader, mut peer) = pair().await;
        reader.set_lowat(8); // 128 bytes; one enquire_link is 16
        peer.write_all(&enquire_link(7)).await.unwrap();
        assert_eq!(next_seq(&mut reader).await, 7);
        // A slow peer: after a look that found nothing, the mark is off until asked again.
        let waiting = tokio::spawn(async move {
            let seq = next_seq(&mut reader).await;
            (seq, reader.lowat)
        });
        tokio::time::sleep(LOWAT_FALLBACK * 5).await;
        peer.write_all(&enquire_link(8)).await.unwrap();
        let (seq, lowat) = waiting.await.unwrap();
        assert_eq!((seq, lowat), (8, 1));
    }

    /// `next()` counting how often it was polled.
    fn counted(
        mut reader: Reader,
        polls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) -> tokio::task::JoinHandle<u32> {
        tokio::spawn(async move {
            use std::future::Future;
            let mut next = std::pin::pin!(next_seq(&mut reader));
            std::future::poll_fn(|cx| {
                polls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                next.as_mut().poll(cx)
            })
            .await
        })
    }

    #[tokio::test]
    async fn a_pdu_arriving_while_polling_is_read_and_polling_ends_on_time() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        // Polling for 5 s: the PDU is read as it comes, well before the poll would end.
        let (mut reader, mut peer) = pair().await;
        reader.set_spin(Some(Instant::now() + Duration::from_secs(5)));
        let polls = Arc::new(AtomicUsize::new(0));
        let task = counted(reader, polls.clone());
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(
            polls.load(Ordering::Relaxed) > 10,
            "an empty socket is polled, not slept on: {} polls",
            polls.load(Ordering::Relaxed)
        );
        peer.write_all(&enquire_link(4)).await.unwrap();
        let seq = tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .expect("read while polling")
            .unwrap();
        assert_eq!(seq, 4);

        // Polling for 10 ms: then the reader sleeps until the PDU comes.
        let (mut reader, mut peer) = pair().await;
        reader.set_spin(Some(Instant::now() + Duration::from_millis(10)));
        let polls = Arc::new(AtomicUsize::new(0));
        let task = counted(reader, polls.clone());
        tokio::time::sleep(Duration::from_millis(60)).await;
        let after_poll = polls.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            polls.load(Ordering::Relaxed),
            after_poll,
            "asleep once the poll's time is up"
        );
        peer.write_all(&enquire_link(5)).await.unwrap();
        assert_eq!(task.await.unwrap(), 5);
    }

    #[tokio::test]
    async fn a_burst_split_anywhere_comes_out_whole_and_in_order() {
        let (mut reader, mut peer) = pair().await;
        reader.set_lowat(3);
        let bytes: Vec<u8> = (1..=5).flat_map(enquire_link).collect();
        // Cut inside the first header and inside the fourth PDU.
        for part in [&bytes[..3], &bytes[3..55], &bytes[55..]] {
            peer.write_all(part).await.unwrap();
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        for want in 1..=5 {
            assert_eq!(next_seq(&mut reader).await, want);
        }
    }

    #[tokio::test]
    async fn bytes_read_with_the_bind_come_first() {
        let (mut reader, mut peer) = pair_with(BytesMut::from(&enquire_link(1)[..])).await;
        peer.write_all(&enquire_link(2)).await.unwrap();
        assert_eq!(next_seq(&mut reader).await, 1);
        assert_eq!(next_seq(&mut reader).await, 2);
    }

    #[tokio::test]
    async fn close_between_pdus_ends_and_close_inside_one_is_an_error() {
        let (mut reader, mut peer) = pair().await;
        peer.write_all(&enquire_link(1)).await.unwrap();
        drop(peer);
        assert_eq!(next_seq(&mut reader).await, 1);
        assert!(reader.next().await.is_none());

        let (mut reader, mut peer) = pair().await;
        reader.set_lowat(2);
        peer.write_all(&enquire_link(1)[..10]).await.unwrap();
        drop(peer);
        let end = tokio::time::timeout(Duration::from_secs(2), reader.next())
            .await
            .expect("an answer within 2 s");
        assert!(matches!(end, Some(Err(_))), "half a PDU then EOF: {end:?}");
    }
}
