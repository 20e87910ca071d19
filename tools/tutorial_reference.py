"""The tutorial's §4 training loop, literally, as the reference gankit is measured against.

Everything below ``# --- the tutorial ---`` is the tutorial's code (§4, "训练流程示例"): a
DataLoader with per-image ``ToTensor`` + ``Normalize((0.5,), (0.5,))``, D ending in
``nn.Sigmoid()`` with ``nn.BCELoss``, three D forward passes per step, Adam 2e-4, batch 64.
The only change: ``datasets.MNIST(..., download=True)`` becomes the embedded ``mnist5k``
digits served as a torchvision-style data set of PIL images (so it runs offline), and the
loop is wrapped in functions so benchmarks and tests can import it.

Run as a script it is the tutorial's program::

    python tools/tutorial_reference.py --epochs 100
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn as nn
import torch.optim as optim
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

latent_size = 100
learning_rate = 0.0002
batch_size = 64
num_epochs = 100


class MNIST5k(Dataset):
    """torchvision.datasets.MNIST's behaviour on the embedded digits: a PIL "L" image per item,
    passed through ``transform``; returns (image, label) like torchvision does."""

    def __init__(self, transform=None):
        from gankit.data.embedded import load_mnist5k

        data = load_mnist5k()
        self.data = data.samples[:, 0]  # uint8 (N, 28, 28), as torchvision's MNIST.data
        self.targets = data.labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        img, target = self.data[index], int(self.targets[index])
        img = Image.fromarray(img.numpy(), mode="L")  # exactly what torchvision's MNIST does
        if self.transform is not None:
            img = self.transform(img)
        return img, target


# --- the tutorial ---------------------------------------------------------------------------

transform = transforms.Compose([
    transforms.ToTensor(),
    transforms.Normalize((0.5,), (0.5,))  # 数据归一化
])


def make_dataloader(batch_size: int = batch_size, seed: int | None = None) -> DataLoader:
    dataset = MNIST5k(transform=transform)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator)


# 生成器模型
class Generator(nn.Module):
    def __init__(self):
        super(Generator, self).__init__()
        self.model = nn.Sequential(
            nn.Linear(latent_size, 256),
            nn.ReLU(),
            nn.Linear(256, 512),
            nn.ReLU(),
            nn.Linear(512, 1024),
            nn.ReLU(),
            nn.Linear(1024, 28 * 28),  # MNIST 图像为 28x28
            nn.Tanh(),  # 输出范围 [-1, 1]
        )

    def forward(self, z):
        return self.model(z)


# 判别器模型
class Discriminator(nn.Module):
    def __init__(self):
        super(Discriminator, self).__init__()
        self.model = nn.Sequential(
            nn.Linear(28 * 28, 512),
            nn.LeakyReLU(0.2),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2),
            nn.Linear(256, 1),
            nn.Sigmoid()  # 输出范围 [0, 1]
        )

    def forward(self, img):
        return self.model(img)


def build_nets():
    """The tutorial's (generator, discriminator, optim_G, optim_D)."""
    generator = Generator()
    discriminator = Discriminator()
    optim_G = optim.Adam(generator.parameters(), lr=learning_rate)
    optim_D = optim.Adam(discriminator.parameters(), lr=learning_rate)
    return generator, discriminator, optim_G, optim_D


def literal_step(generator, discriminator, optim_G, optim_D, imgs, z=None):
    """The body of the tutorial's inner loop for one batch ``imgs`` (B, 1, 28, 28).

    ``z`` (B, latent_size) may be given (tests); otherwise it is drawn as the tutorial does.
    Returns (loss_D, loss_G) as tensors.
    """
    # 将图像转化为向量
    real_imgs = imgs.view(-1, 28 * 28)

    # 训练判别器
    if z is None:
        z = torch.randn(imgs.size(0), latent_size)  # 随机噪声
    fake_imgs = generator(z)

    # 判别器的标签
    real_labels = torch.ones(imgs.size(0), 1)
    fake_labels = torch.zeros(imgs.size(0), 1)

    # 计算损失
    loss_D = nn.BCELoss()(discriminator(real_imgs), real_labels) + \
        nn.BCELoss()(discriminator(fake_imgs.detach()), fake_labels)

    # 更新判别器
    optim_D.zero_grad()
    loss_D.backward()
    optim_D.step()

    # 训练生成器
    loss_G = nn.BCELoss()(discriminator(fake_imgs), real_labels)

    # 更新生成器
    optim_G.zero_grad()
    loss_G.backward()
    optim_G.step()
    return loss_D, loss_G


def run_steps(nets, dataloader, n_steps: int) -> int:
    """Run the tutorial's loop for ``n_steps`` batches (across epochs); return images seen."""
    generator, discriminator, optim_G, optim_D = nets
    seen = 0
    while True:
        for i, (imgs, _) in enumerate(dataloader):
            literal_step(generator, discriminator, optim_G, optim_D, imgs)
            seen += imgs.size(0)
            n_steps -= 1
            if n_steps <= 0:
                return seen


def main(epochs: int = num_epochs) -> None:
    """The tutorial's program: ``epochs`` epochs, an epoch line each, then 16 samples."""
    dataloader = make_dataloader()
    generator, discriminator, optim_G, optim_D = build_nets()

    # 训练过程
    for epoch in range(epochs):
        for i, (imgs, _) in enumerate(dataloader):
            loss_D, loss_G = literal_step(generator, discriminator, optim_G, optim_D, imgs)
        print(f'Epoch [{epoch+1}/{epochs}], Loss D: {loss_D.item():.4f}, Loss G: {loss_G.item():.4f}')

    # 生成假图像的示例
    with torch.no_grad():
        z = torch.randn(16, latent_size)
        generated_imgs = generator(z).view(-1, 1, 28, 28)
    return generated_imgs


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=num_epochs)
    args = parser.parse_args()
    started = time.perf_counter()
    main(args.epochs)
    print(f"{args.epochs} epochs in {time.perf_counter() - started:.1f} s")
