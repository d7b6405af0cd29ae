// Check-in by the phone's camera: reads the registration QR code (it holds the 8-character
// code) with the vendored jsQR and submits the typed-code form with it. Without a camera
// (or permission) a photo of the code can be read instead; without JavaScript the typed
// code works as always.
(function () {
  "use strict";
  var root = document.getElementById("qr-scanner");
  var form = document.getElementById("qr-form");
  if (!root || !form || typeof window.jsQR !== "function") { return; }
  var input = form.querySelector("input[name=code]");
  var status = document.getElementById("qr-status");
  var video = document.getElementById("qr-video");
  var file = document.getElementById("qr-file");
  var canvas = document.createElement("canvas");
  var context = canvas.getContext("2d", { willReadFrequently: true });
  var CODE = /^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{8}$/;
  var stream = null;
  var done = false;

  function say(key, code) {
    status.textContent = (root.getAttribute("data-msg-" + key) || "").replace("{code}", code || "");
  }

  // The code as stored: upper case, without spaces or dashes (like the server's normalise_code).
  function codeIn(text) {
    var code = String(text || "").replace(/[\s-]/g, "").toUpperCase();
    return CODE.test(code) ? code : null;
  }

  function decode(source, width, height) {
    if (!width || !height) { return null; }
    // Large photos are scaled down: jsQR is quick on a few hundred pixels a side.
    var scale = Math.min(1, 1024 / Math.max(width, height));
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    context.drawImage(source, 0, 0, canvas.width, canvas.height);
    var pixels = context.getImageData(0, 0, canvas.width, canvas.height);
    var found = window.jsQR(pixels.data, pixels.width, pixels.height, { inversionAttempts: "attemptBoth" });
    return found ? codeIn(found.data) : null;
  }

  function submit(code) {
    if (done) { return; }
    done = true;
    stop();
    input.value = code;
    say("found", code);
    if (typeof form.requestSubmit === "function") { form.requestSubmit(); } else { form.submit(); }
  }

  function stop() {
    if (stream) {
      stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
    }
  }

  function scan() {
    if (done || !stream) { return; }
    if (video.readyState >= 2) {
      var code = decode(video, video.videoWidth, video.videoHeight);
      if (code) { submit(code); return; }
    }
    window.requestAnimationFrame(scan);
  }

  file.addEventListener("change", function () {
    var chosen = file.files && file.files[0];
    if (!chosen || typeof window.createImageBitmap !== "function") { return; }
    window.createImageBitmap(chosen).then(function (image) {
      var code = decode(image, image.width, image.height);
      if (code) { submit(code); } else { say("not-found"); }
    }, function () { say("not-found"); });
  });

  if (!navigator.mediaDevices || typeof navigator.mediaDevices.getUserMedia !== "function") {
    say("no-camera");
    return;
  }
  say("starting");
  navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }).then(function (media) {
    stream = media;
    video.srcObject = media;
    video.hidden = false;
    video.setAttribute("aria-label", status.textContent);
    return video.play().then(function () {
      say("scanning");
      window.requestAnimationFrame(scan);
    });
  }).catch(function () {
    stop();
    video.hidden = true;
    say("no-camera");
  });
  window.addEventListener("pagehide", stop);
})();
