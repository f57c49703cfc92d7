//! A webhook receiver for tests: records each POST's `X-Rota-Signature` and raw body, and
//! answers 204, as a bridge script would.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

pub struct Receiver {
    url: String,
    got: Received,
    server: actix_web::dev::ServerHandle,
}

async fn receive(got: web::Data<Received>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let sig = req
        .headers()
        .get("X-Rota-Signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    got.lock().unwrap().push((sig, body.to_vec()));
    HttpResponse::NoContent().finish()
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got: Received = Arc::default();
        let data = web::Data::new(got.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/hook", web::post().to(receive))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Receiver {
            url,
            got,
            server: handle,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn received(&self) -> Vec<(String, Vec<u8>)> {
        self.got.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let server = self.server.clone();
        actix_web::rt::spawn(async move { server.stop(false).await });
    }
}
